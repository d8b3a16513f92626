import type { EventEmitter } from 'node:events';
import { settle } from './execution-fixture.ts';

/** Calls `wake` whenever something happened that may have made a condition true; returns the unsubscribe. */
export type Trigger = (wake: () => void) => () => void;

/** A trigger on events of a Node emitter (a socket's `message`, a hub's `session_open`, …). */
export function onEvents(
  emitter: EventEmitter | { on(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown },
  ...events: string[]
): Trigger {
  return (wake) => {
    for (const event of events) emitter.on(event, wake);
    return () => {
      for (const event of events) emitter.off(event, wake);
    };
  };
}

/** A trigger on every value of an observable (a connector's `state$` or `events$`). */
export function onValues(source: { subscribe(next: () => void): { unsubscribe(): void } }): Trigger {
  return (wake) => {
    const subscription = source.subscribe(() => wake());
    return () => subscription.unsubscribe();
  };
}

/**
 * Waits for a condition that real I/O makes true over real time (where `until`, which counts
 * event-loop turns, would give up too soon): checks it now and after each trigger fires (and the
 * promise chains it started have run). Never sleeps; `timeoutMs` is only a deadline that fails
 * the wait, naming `what` and, if given, `describe()` of the state it was in.
 *
 * @example
 * await waitUntil(() => received.length === 3, [onEvents(socket, 'message')], { what: 'three echoes' });
 */
export async function waitUntil(
  check: () => boolean,
  triggers: Trigger[],
  { what, timeoutMs = 30_000, describe }: { what: string; timeoutMs?: number; describe?: () => string },
): Promise<void> {
  if (check()) return;
  let wake: () => void = () => {};
  let woken = false;
  const unsubscribe = triggers.map((trigger) =>
    trigger(() => {
      woken = true;
      wake();
    }),
  );
  let deadline: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    deadline = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `: ${describe()}` : ''}`)),
      timeoutMs,
    );
    deadline.unref();
  });
  expired.catch(() => {}); // raced below; may fire between two races
  try {
    while (!check()) {
      if (!woken) await Promise.race([new Promise<void>((resolve) => (wake = resolve)), expired]);
      woken = false;
      // What the event set off (a promise chain, a store write) runs before the next check.
      await settle(3);
    }
  } finally {
    clearTimeout(deadline);
    for (const off of unsubscribe) off();
  }
}
