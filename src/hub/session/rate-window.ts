/** Counts events in a sliding time window. */
export interface RateWindow {
  /** Records one event now and returns how many fall within the window, this one included. */
  hit(): number;
}

/**
 * A sliding-window counter: keeps one timestamp per event still inside the window, so its
 * memory is bounded by the rate the caller tolerates (the caller acts once the count passes
 * its limit).
 *
 * @example
 * const bad = createRateWindow(60_000, Date.now);
 * if (bad.hit() > 10) socket.close(1008);
 */
export function createRateWindow(windowMs: number, now: () => number): RateWindow {
  const hits: number[] = [];
  return {
    hit() {
      const at = now();
      hits.push(at);
      while ((hits[0] ?? Infinity) <= at - windowMs) hits.shift();
      return hits.length;
    },
  };
}
