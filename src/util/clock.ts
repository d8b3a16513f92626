/** A clock: XState's timer interface plus the wall clock. `SimulatedClock` is one. */
export interface RuntimeClock {
  now(): number;
  /**
   * Milliseconds on a clock that never jumps (the real clock's `performance.now()`), for
   * deadlines kept across runs: the wall clock can be stepped (NTP) under them. A clock without
   * it is read by `now()` ({@link monotonicOf}).
   */
  monotonic?(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** `clock`'s monotonic reading: its own when it has one, else its `now()` (a simulated clock does not jump). */
export function monotonicOf(clock: RuntimeClock): number {
  return clock.monotonic ? clock.monotonic() : clock.now();
}

/** The process's own clock. */
export const realClock: RuntimeClock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/**
 * Waits `ms` on `clock`: on the connector's clock a wait is a timer a session recording keeps and
 * a replay fires at its recorded time, where `setTimeout` would wait in real time and be lost.
 * Rejects with an `AbortError` (its `cause` the signal's reason) when `signal` aborts first.
 *
 * @example
 * await sleepOn(clock, 250, ctx.signal);
 */
export function sleepOn(clock: RuntimeClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => Object.assign(new Error('the wait was aborted', { cause: signal?.reason }), { name: 'AbortError' });
    if (signal?.aborted) return reject(aborted());
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(aborted());
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
