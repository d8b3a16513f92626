import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyStateMachine, AnyStateNode, InspectionEvent } from 'xstate';

type TransitionDefinition = { eventType: string; source: AnyStateNode; guard?: unknown; target?: unknown };

/** Names one transition of a definition: source state, event, and its place among its siblings. */
function keyOf(source: AnyStateNode, eventType: string, index: number): string {
  return `${source.id} | ${eventType === '' ? 'always' : eventType} #${index}`;
}

/**
 * Every transition of a machine, found statically: each state node's `transitions` (which
 * include `after` delays and invoke done/error events) and its `always` list, recursively.
 */
export function transitionKeys(machine: AnyStateMachine): string[] {
  const walk = (node: AnyStateNode): string[] => [
    ...[...node.transitions].flatMap(([eventType, list]) => (list as TransitionDefinition[]).map((_, i) => keyOf(node, eventType, i))),
    ...((node.always ?? []) as TransitionDefinition[]).map((_, i) => keyOf(node, '', i)),
    ...(Object.values(node.states) as AnyStateNode[]).flatMap(walk),
  ];
  return walk(machine.root);
}

/**
 * Counts which transitions of a machine ran, from `@xstate.microstep` inspection events.
 * Transitions are matched by source state, event and position rather than identity, so a
 * machine made with `.provide()` (a copy of the definition) counts against the original.
 *
 * `report()` prints `<name>: <covered>/<total> transitions` and, when `EXPLORE_OUT` names a
 * folder (as `npm run explore` does), writes the covered keys there so runs of several test
 * files can be merged per machine.
 */
export function createTransitionCoverage(machine: AnyStateMachine, actorId: string, name: string = actorId) {
  const all = new Set(transitionKeys(machine));
  const covered = new Set<string>();
  const coverage = {
    inspect(event: InspectionEvent): void {
      if (event.type !== '@xstate.microstep' || (event.actorRef as { id?: string }).id !== actorId) return;
      for (const t of (event as { _transitions?: TransitionDefinition[] })._transitions ?? []) {
        const siblings = (
          t.eventType === '' ? (t.source.always ?? []) : (t.source.transitions.get(t.eventType) ?? [])
        ) as TransitionDefinition[];
        const index = siblings.findIndex((s) => s === t || (s.eventType === t.eventType && s.guard === t.guard && s.target === t.target));
        covered.add(keyOf(t.source, t.eventType, Math.max(0, index)));
      }
    },
    get total() {
      return all.size;
    },
    get covered() {
      return [...covered].filter((k) => all.has(k)).length;
    },
    uncovered: () => [...all].filter((k) => !covered.has(k)),
    /**
     * Prints the figure (and what is missing); saves the covered keys for `npm run explore`.
     * `via` names the test when it drives the machine only as a partner of another.
     */
    report(via?: string): void {
      const missing = coverage.uncovered();
      console.log(
        `${name}${via ? ` (${via})` : ''}: ${coverage.covered}/${coverage.total} transitions${missing.length > 0 ? ` (missing: ${missing.join(', ')})` : ''}`,
      );
      const out = process.env.EXPLORE_OUT;
      if (out === undefined) return;
      mkdirSync(out, { recursive: true });
      const file = join(out, `${name}.${process.pid}.${Date.now()}.json`);
      writeFileSync(file, JSON.stringify({ machine: name, all: [...all], covered: [...covered].filter((k) => all.has(k)) }));
    },
  };
  return coverage;
}
