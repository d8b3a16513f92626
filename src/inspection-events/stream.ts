import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import type { RuntimeClock } from '../util/clock.ts';
import { createRedactor, type RedactOptions } from './redact.ts';
import { createInspectionSanitizer } from './sanitize.ts';

/** One actor of the tree, as the inspection stream describes it. */
export interface InspectedActor {
  /** Path in the tree: `supervisor`, `supervisor/connection`, `supervisor/connection/socket`. */
  id: string;
  /** The actor's own id (`connection`). */
  name: string;
  /** The parent's path. */
  parent?: string;
  /** The machine's id when the actor is a state machine (`connection`, `settings-sync`). */
  machine?: string;
  status: 'active' | 'done' | 'error' | 'stopped';
  /** Active state nodes, as dotted paths without the machine id (`online`, `online.connected`). */
  states: string[];
}

/** What the inspection stream reports, secrets already redacted. */
export type InspectionRecord =
  /** An actor appeared, took its first states, or a restarted child came back under the same path. */
  | { type: 'actor'; at: number; actor: InspectedActor }
  | { type: 'actor.stopped'; at: number; actor: string; status: 'done' | 'error' | 'stopped' }
  /** A machine moved to other states; `reason` is the machine's own `context.reason`, if it keeps one. */
  | {
      type: 'transition';
      at: number;
      actor: string;
      from: string[];
      to: string[];
      event: { type: string; [key: string]: unknown };
      reason?: string;
    };

/** The options of {@link InspectionStream}. */
export interface InspectionStreamOptions extends RedactOptions {
  clock: Pick<RuntimeClock, 'now'>;
  /** The redactor to use, when the host of the stream shares one (else made from the options). */
  redact?: <T>(value: T) => T;
  /** Told when a listener or observer throws; the error goes no further (it would stop the actor system). */
  onListenerError?: (error: unknown) => void;
}

interface Tracked {
  ref: AnyActorRef;
  rootId: string;
  actor: InspectedActor;
  /** Its children's ids when last seen, to notice one going. */
  children?: string;
}

/**
 * One inspection stream for a whole actor system: it takes XState's raw inspection events and
 * gives (a) sanitised inspection events to observers such as `@statelyai/inspect`, and (b) a
 * compact record stream (actors appearing and stopping, state transitions with their events and
 * reasons) for the built-in inspector and the session recorder. Every event, snapshot and
 * context is redacted (src/inspection-events/redact.ts) before anything sees it.
 *
 * A subscriber that joins late gets the live actors first, so it can draw the present.
 *
 * @example
 * const stream = new InspectionStream({ clock, secretKeys: ['licence'] });
 * const actor = createActor(machine, { inspect: (e) => stream.inspect(e) });
 * stream.subscribe((record) => { if (record.type === 'transition') console.log(record.actor, record.to); });
 */
export class InspectionStream {
  readonly #clock: Pick<RuntimeClock, 'now'>;
  readonly #sanitize: (event: InspectionEvent) => InspectionEvent;
  readonly #redact: <T>(value: T) => T;
  readonly #tracked = new Map<string, Tracked>();
  readonly #paths = new WeakMap<AnyActorRef, string>();
  readonly #machines = new Map<string, AnyStateMachine>();
  readonly #listeners = new Set<(record: InspectionRecord) => void>();
  readonly #observers = new Set<(event: InspectionEvent) => void>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(options: InspectionStreamOptions) {
    this.#clock = options.clock;
    this.#onListenerError = options.onListenerError ?? (() => {});
    this.#redact = options.redact ?? createRedactor(options);
    this.#sanitize = createInspectionSanitizer(this.#redact);
  }

  /** Feeds one raw inspection event (pass this as `createActor(…, { inspect })`). */
  inspect(event: InspectionEvent): void {
    if (event.type === '@xstate.actor') this.#register(event.actorRef as AnyActorRef, event.rootId);
    else if (event.type === '@xstate.snapshot') this.#onSnapshot(event.actorRef as AnyActorRef, event.event, event.snapshot);
    if (this.#observers.size > 0) {
      const safe = this.#sanitize(event);
      for (const observer of this.#observers) this.#call(observer, safe);
    }
  }

  /** The actors alive now, parents before children. */
  actors(): InspectedActor[] {
    return [...this.#tracked.values()].map((t) => t.actor).sort((a, b) => depth(a.id) - depth(b.id));
  }

  /** The logic of a machine seen in the tree, by machine id (to draw its statechart). */
  machine(id: string): AnyStateMachine | undefined {
    return this.#machines.get(id);
  }

  /** Records from now on, after one `actor` record for each live actor. Returns unsubscribe. */
  subscribe(listener: (record: InspectionRecord) => void): () => void {
    const at = this.#clock.now();
    for (const actor of this.actors()) this.#call(listener, { type: 'actor', at, actor } as InspectionRecord);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Sanitised XState inspection events (the shape `@statelyai/inspect` takes): first an
   * `@xstate.actor` for each live actor (XState announces an actor once, when it is created),
   * then everything from now on. Returns unsubscribe.
   */
  observe(observer: (event: InspectionEvent) => void): () => void {
    for (const { ref, rootId } of [...this.#tracked.values()].sort((a, b) => depth(a.actor.id) - depth(b.actor.id))) {
      this.#call(observer, this.#sanitize({ type: '@xstate.actor', actorRef: ref, rootId }));
    }
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Redacts a value the way this stream does (for recordings and pages that show more). */
  redact<T>(value: T): T {
    return this.#redact(value);
  }

  #emit(record: InspectionRecord): void {
    for (const listener of this.#listeners) this.#call(listener, record);
  }

  #call<T>(listener: (value: T) => void, value: T): void {
    try {
      listener(value);
    } catch (error) {
      this.#onListenerError(error);
    }
  }

  #pathOf(ref: AnyActorRef): string {
    let path = this.#paths.get(ref);
    if (path === undefined) {
      const parent = ref._parent as AnyActorRef | undefined;
      const logic = (ref as { logic?: { id?: string; root?: unknown } }).logic ?? {};
      // The root's own id is a session id (`x:0`); its machine id reads better.
      path = parent ? `${this.#pathOf(parent)}/${ref.id}` : (logic.root !== undefined && logic.id) || ref.id;
      this.#paths.set(ref, path);
    }
    return path;
  }

  #register(ref: AnyActorRef, rootId: string): void {
    const logic = (ref as { logic?: unknown }).logic as AnyStateMachine & { root?: unknown };
    const machine = logic.root !== undefined ? logic.id : undefined;
    if (machine !== undefined && !this.#machines.has(machine)) this.#machines.set(machine, logic);
    const parent = ref._parent as AnyActorRef | undefined;
    const actor: InspectedActor = {
      id: this.#pathOf(ref),
      name: ref.id,
      ...(parent && { parent: this.#pathOf(parent) }),
      ...(machine !== undefined && { machine }),
      status: 'active',
      states: [],
    };
    this.#tracked.set(actor.id, { ref, rootId, actor });
    this.#emit({ type: 'actor', at: this.#clock.now(), actor });
  }

  #onSnapshot(ref: AnyActorRef, event: { type: string }, snapshot: unknown): void {
    const path = this.#pathOf(ref);
    const tracked = this.#tracked.get(path);
    // A snapshot of an actor this stream did not see start (or of a replaced one): ignore.
    if (!tracked || tracked.ref !== ref) return;
    const s = snapshot as {
      status?: InspectedActor['status'];
      _nodes?: Array<{ path: string[] }>;
      context?: { reason?: unknown };
      children?: object;
    };
    const at = this.#clock.now();
    if (s._nodes) {
      const to = activeStates(s._nodes);
      const from = tracked.actor.states;
      if (to.join('|') !== from.join('|')) {
        tracked.actor = { ...tracked.actor, states: to };
        // The first snapshot places the machine in its initial states: news of the actor, not a transition.
        if (from.length === 0) this.#emit({ type: 'actor', at, actor: tracked.actor });
        else {
          const reason = s.context?.reason;
          this.#emit({
            type: 'transition',
            at,
            actor: path,
            from,
            to,
            event: this.#redact(event),
            ...(typeof reason === 'string' && { reason }),
          });
        }
      }
    }
    // Only an actor that ended, or one whose children changed, can leave stopped actors behind.
    const children = s.children === undefined ? undefined : Object.keys(s.children).join('|');
    if ((s.status ?? 'active') !== 'active' || children !== tracked.children) {
      tracked.children = children;
      this.#sweep(at);
    }
  }

  /** Drops the actors that stopped; XState does not send a snapshot for every stopped child. */
  #sweep(at: number): void {
    for (const [path, { ref }] of this.#tracked) {
      const status = statusOf(ref);
      if (status === 'active') continue;
      this.#tracked.delete(path);
      this.#emit({ type: 'actor.stopped', at, actor: path, status });
    }
  }
}

function statusOf(ref: AnyActorRef): InspectedActor['status'] {
  try {
    return (ref.getSnapshot() as { status?: InspectedActor['status'] } | undefined)?.status ?? 'active';
  } catch {
    // XState refuses to show the snapshot of an actor that is still initialising: it is alive.
    return 'active';
  }
}

function activeStates(nodes: Array<{ path: string[] }>): string[] {
  return nodes.map((n) => n.path.join('.')).filter((p) => p !== '');
}

function depth(path: string): number {
  return path.split('/').length;
}
