import {
  type AnyActorLogic,
  type AnyActorRef,
  type AnyEventObject,
  createActor,
  createMachine,
  type InspectionEvent,
  SimulatedClock,
} from 'xstate';

/**
 * Runs a child machine under a parent that records every event the child sends it, on a
 * SimulatedClock. Machines talk to their parent with `sendParent`, which needs a parent.
 */
export function underParent(
  logic: AnyActorLogic,
  input: unknown,
  clock = new SimulatedClock(),
  /** Answers some of the child's events (e.g. a token request), like a real parent would. */
  reply?: (event: AnyEventObject) => AnyEventObject | undefined,
  /** Sees every inspection event of the tree (e.g. to measure transition coverage). */
  inspect?: (event: InspectionEvent) => void,
) {
  const received: AnyEventObject[] = [];
  const parent = createMachine({
    invoke: { id: 'child', src: logic, input },
    on: {
      '*': {
        actions: ({ event, self }) => {
          received.push(event);
          const answer = reply?.(event);
          if (answer) (self.getSnapshot().children.child as AnyActorRef).send(answer);
        },
      },
    },
  });
  const actor = createActor(parent, { clock, ...(inspect && { inspect }) });
  actor.start();
  const child = actor.getSnapshot().children.child as AnyActorRef;
  return {
    clock,
    actor,
    child,
    received,
    /** Events of one type the child sent to its parent. */
    sent: <T extends string>(type: T) => received.filter((e) => e.type === type),
    /** Child errors (xstate.error.actor.child); a test asserts there are none. */
    errors: () => received.filter((e) => e.type.startsWith('xstate.error')),
    state: () => child.getSnapshot().value as unknown,
    context: () => child.getSnapshot().context as Record<string, unknown>,
  };
}

/** Lets queued microtasks (memory socket closes) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
