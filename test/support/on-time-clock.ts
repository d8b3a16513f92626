import type { SimulatedClock } from 'xstate';

/*
 * Real time on a SimulatedClock. `clock.increment(ms)` moves to the end first and only then fires
 * what fell due, so every timer fires late and anything it arms counts from the end: that is a
 * process whose event loop was blocked for `ms`. These helpers stop at each timer's due time
 * instead, so timers fire when they should.
 */

type Timers = Map<number, { start: number; timeout: number }>;

/** When the earliest pending timer is due, or undefined when none is pending. */
export function nextDue(clock: SimulatedClock): number | undefined {
  let due: number | undefined;
  for (const { start, timeout } of (clock as unknown as { timeouts: Timers }).timeouts.values()) {
    due = due === undefined ? start + timeout : Math.min(due, start + timeout);
  }
  return due;
}

/** Bounds a loop of timers re-arming themselves at once (a bug would otherwise hang the test). */
const MAX_STEPS = 100_000;

/** Moves the clock to each due time up to `ms` from now (yielding after each), then to the end. */
function* dueTimes(clock: SimulatedClock, ms: number): Generator<void> {
  const end = clock.now() + ms;
  for (let step = 0; ; step++) {
    if (step > MAX_STEPS) throw new Error('timers keep re-arming at the same instant');
    const due = nextDue(clock);
    if (due === undefined || due > end) break;
    clock.set(Math.max(due, clock.now()));
    yield;
  }
  clock.set(end);
}

/** Advances `ms`, firing every timer at its due time. */
export function advanceOnTime(clock: SimulatedClock, ms: number): void {
  for (const _ of dueTimes(clock, ms));
}

/** As {@link advanceOnTime}, awaiting `between` after each firing (sockets, promises settle). */
export async function advanceOnTimeAsync(clock: SimulatedClock, ms: number, between: () => Promise<void>): Promise<void> {
  for (const _ of dueTimes(clock, ms)) await between();
  await between();
}
