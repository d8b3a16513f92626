import type { AnyActorRef, InspectionEvent } from 'xstate';

/** A snapshot as inspection shows it: plain data, secrets redacted. */
export interface SafeSnapshot {
  status: string;
  value?: unknown;
  context?: unknown;
  output?: unknown;
  error?: unknown;
  /** Ids of the child actors. */
  children?: string[];
}

/**
 * Sanitises inspection events: what leaves the connector through `inspect`, the Stately inspector,
 * the built-in inspector or a recording. Snapshots and events are redacted copies; `actorRef`,
 * `sourceRef` and their parents are stand-ins that carry `id`, `sessionId`, `_parent`, `logic`
 * (the machine definition) and a `getSnapshot()` that returns a redacted snapshot. Nothing can be
 * sent to an actor through them.
 */
export function createInspectionSanitizer(redact: <T>(value: T) => T): (event: InspectionEvent) => InspectionEvent {
  const standIns = new WeakMap<AnyActorRef, AnyActorRef>();

  const snapshotOf = (snapshot: unknown): SafeSnapshot => {
    const s = (snapshot ?? {}) as Record<string, unknown>;
    return {
      status: typeof s.status === 'string' ? s.status : 'active',
      ...('value' in s && { value: s.value }),
      ...('context' in s && { context: redact(s.context) }),
      ...(s.output !== undefined && { output: redact(s.output) }),
      ...(s.error !== undefined && {
        error: redact(s.error instanceof Error ? { name: s.error.name, message: s.error.message } : s.error),
      }),
      ...(s.children !== undefined && { children: Object.keys(s.children as object) }),
    };
  };

  const standIn = (ref: AnyActorRef | undefined): AnyActorRef | undefined => {
    if (ref === undefined) return undefined;
    let safe = standIns.get(ref);
    if (!safe) {
      const logic = (ref as { logic?: unknown }).logic as { config?: unknown; id?: string } | undefined;
      safe = {
        id: ref.id,
        sessionId: ref.sessionId,
        get _parent() {
          return standIn(ref._parent);
        },
        logic: logic?.config === undefined ? {} : { id: logic.id, config: logic.config },
        getSnapshot: () => {
          try {
            return snapshotOf(ref.getSnapshot());
          } catch {
            // XState refuses while the actor initialises (when `@xstate.actor` is sent).
            return { status: 'active' };
          }
        },
      } as unknown as AnyActorRef;
      standIns.set(ref, safe);
    }
    return safe;
  };

  return (event) => {
    switch (event.type) {
      case '@xstate.actor':
        return { ...event, actorRef: standIn(event.actorRef as AnyActorRef)! };
      case '@xstate.event':
        return {
          ...event,
          actorRef: standIn(event.actorRef as AnyActorRef)!,
          sourceRef: standIn(event.sourceRef as AnyActorRef | undefined),
          event: redact(event.event),
        };
      case '@xstate.snapshot':
      case '@xstate.transition':
        return {
          ...event,
          actorRef: standIn(event.actorRef as AnyActorRef)!,
          event: redact(event.event),
          snapshot: snapshotOf(event.snapshot) as never,
        };
      case '@xstate.microstep':
        return {
          ...event,
          actorRef: standIn(event.actorRef as AnyActorRef)!,
          event: redact(event.event),
          snapshot: snapshotOf(event.snapshot) as never,
          _transitions: event._transitions,
        };
      case '@xstate.action':
        return {
          ...event,
          actorRef: standIn(event.actorRef as AnyActorRef)!,
          action: { type: event.action.type, params: redact(event.action.params) },
        };
      default:
        return event;
    }
  };
}
