/**
 * A seeded pseudo-random generator (mulberry32) kept as a number in machine context. Jitter comes
 * from here instead of `Math.random`, so machines stay pure: the same seed and events give the
 * same delays, which is what makes recorded sessions replayable and test failures reproducible.
 */

/** Returns a float in [0, 1) and the next state. */
export function nextRandom(state: number): [value: number, next: number] {
  const next = (state + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}

/** A fresh seed for production use. */
export function randomSeed(): number {
  return (Math.random() * 0x100000000) | 0;
}
