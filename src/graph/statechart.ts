import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** One transition of a machine, as written in its definition. */
export interface TransitionInfo {
  /** Dotted path of the state that declares it, without the machine id (`''` for the root). */
  source: string;
  /** The event as XState names it (`xstate.after.connectTimeout.connection.online.connecting`, `''` for `always`). */
  eventType: string;
  /** A readable event (`after connectTimeout`, `always`, `socket.closed`). */
  event: string;
  /** The guard in words (`fatalClose`, `!current`), if any. */
  guard?: string;
  /** Dotted paths of the target states; empty for a transition that stays put. */
  targets: string[];
  /** Named actions, in order. */
  actions: string[];
}

/** One state of a machine. */
export interface StateInfo {
  path: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Initial child's path, for compound states. */
  initial?: string;
  children: string[];
  /** Ids of invoked actors. */
  invokes: string[];
}

/** The states and transitions of a machine, read from its definition (`machine.root`). */
export interface Statechart {
  id: string;
  states: StateInfo[];
  transitions: TransitionInfo[];
}

/**
 * Reads a machine's definition into plain data: every state and every transition, including
 * `always`, `after` and invoke done/error transitions. Used for the diagrams in docs/machines.md
 * (and by the transition coverage tool).
 *
 * @example
 * const chart = readStatechart(connectionMachine);
 * chart.transitions.filter((t) => t.source === 'online.connecting');
 */
export function readStatechart(machine: AnyStateMachine): Statechart {
  const states: StateInfo[] = [];
  const transitions: TransitionInfo[] = [];
  const pathOf = (node: AnyStateNode) => node.path.join('.');

  const visit = (node: AnyStateNode) => {
    const children = Object.values(node.states) as AnyStateNode[];
    states.push({
      path: pathOf(node),
      key: node.key,
      type: node.type,
      ...(node.type === 'compound' && node.initial?.target?.[0] && { initial: pathOf(node.initial.target[0]) }),
      children: children.map(pathOf),
      invokes: node.invoke.map((i: { id: string }) => i.id),
    });
    const definitions = [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
    for (const t of definitions) {
      transitions.push({
        source: pathOf(node),
        eventType: t.eventType,
        event: readableEvent(t.eventType),
        ...(t.guard !== undefined && { guard: guardLabel(t.guard) }),
        targets: (t.target ?? []).map((target: AnyStateNode) => pathOf(target)),
        actions: t.actions.map(actionLabel).filter((a: string | undefined): a is string => a !== undefined),
      });
    }
    children.forEach(visit);
  };
  visit(machine.root);
  return { id: machine.id, states, transitions };
}

/** `xstate.after.retryDelay.connection.disconnected` → `after retryDelay`; the empty type (`always`) → `always`. */
export function readableEvent(eventType: string): string {
  if (eventType === '') return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `done ${done[1]}`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `error ${error[1]}`;
  return eventType;
}

type GuardLike = string | { type: string } | (((...args: never[]) => unknown) & { type?: string; guards?: GuardLike[] });

function guardLabel(guard: GuardLike): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const inner = guard.guards ?? [];
    if (guard.type === 'xstate.not') return `!${guardLabel(inner[0]!)}`;
    if (guard.type === 'xstate.and') return inner.map(guardLabel).join(' && ');
    if (guard.type === 'xstate.or') return inner.map(guardLabel).join(' || ');
    return 'inline';
  }
  return guard.type;
}

function actionLabel(action: unknown): string | undefined {
  if (typeof action === 'string') return action;
  // Named actions are objects; built-ins (`assign`, `sendTo`, …) are functions with a `type`.
  const type = (action as { type?: unknown } | null)?.type;
  if (typeof type === 'string') return type;
  return typeof action === 'function' ? 'inline' : undefined;
}
