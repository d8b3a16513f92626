/** A clock: XState's timer interface plus the wall clock. `SimulatedClock` is one. */
export interface RuntimeClock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** The process's own clock. */
export const realClock: RuntimeClock = {
  now: () => Date.now(),
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
