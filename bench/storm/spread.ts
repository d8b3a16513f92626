/**
 * How reconnects spread over time: the busiest window and a coarse histogram of a storm's
 * arrival times (milliseconds since the storm began).
 */

/**
 * The most arrivals in any window of `windowMs` (half-open, `[t, t + windowMs)`), sliding: the
 * busiest window starts at some arrival, so only those starts are tried.
 *
 * @example
 * busiestWindow([0, 10, 50, 120, 130], 100); // 3 (0, 10, 50)
 */
export function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let end = 0;
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end++;
    best = Math.max(best, end - start);
  }
  return best;
}

/**
 * Arrivals per bin of `binMs` from 0, as `from-to s: count` parts (empty bins too, up to the last
 * arrival), for a report's notes.
 *
 * @example
 * histogram([10, 20, 1_400], 500); // '0-0.5s: 2 | 0.5-1s: 0 | 1-1.5s: 1'
 */
export function histogram(times: readonly number[], binMs: number): string {
  const last = Math.max(0, ...times);
  const bins = new Array<number>(Math.floor(last / binMs) + 1).fill(0);
  for (const t of times) bins[Math.floor(Math.max(0, t) / binMs)]!++;
  return bins.map((count, i) => `${(i * binMs) / 1000}-${((i + 1) * binMs) / 1000}s: ${count}`).join(' | ');
}
