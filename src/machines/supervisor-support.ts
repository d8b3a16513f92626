import { type AnyActorRef, enqueueActions, type EventObject, type MachineContext } from 'xstate';

/*
 * The supervisor's plumbing: how it reaches children that may be gone and cleans up after a
 * child that died. Where each frame goes is frame-routing.ts. The machine itself is supervisor.ts.
 */

export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Sends to a child if it is alive. A degraded supervisor has a child missing, and XState's
 * `sendTo` throws on a missing target: that would take the supervisor down with it. The child is
 * looked up in the system, where a child spawned in this same transition is already registered
 * and a failed one is already gone. The send is enqueued with the transition's other actions:
 * a custom action that sends directly makes the child run its own actions inside ours, which
 * XState mistakes for misuse ("Custom actions should not call assign()").
 */
export function sendToChild<C extends MachineContext, V extends EventObject, E extends EventObject>(
  child: string,
  make: (args: { context: C; event: V }) => E | undefined,
) {
  // The child and its events vary per use; xstate's enqueueActions has no wider type to name here.
  // oxlint-disable-next-line typescript/no-explicit-any
  return enqueueActions<C, V, any, any, any, any, any, any, any>(({ context, event, system, enqueue }) => {
    const target = system.get(child) as AnyActorRef | undefined;
    if (target?.getSnapshot().status !== 'active') return;
    const message = make({ context, event });
    if (message) enqueue.sendTo(target, message);
  });
}

/**
 * Stops what an errored child left running. XState stops a failed actor but not the actors it
 * invoked or spawned (see the TODO in its `_stopProcedure`): an errored connection would leave
 * its socket open next to the restarted one's.
 */
export function reapOrphans(ref: AnyActorRef | undefined): void {
  if (!ref) return;
  const snapshot = ref.getSnapshot() as { children?: Record<string, AnyActorRef | undefined> };
  for (const orphan of Object.values(snapshot.children ?? {})) {
    reapOrphans(orphan);
    if (orphan && orphan.getSnapshot().status === 'active') orphan.send({ type: 'xstate.stop' });
  }
}

/** The actor id of a channel's actor. */
export function channelId(channel: string): string {
  return `channel.${channel}`;
}

/** A small stable hash (FNV-1a), to give each channel its own jitter seed. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}
