import { randomFillSync } from 'node:crypto';

/**
 * A probe longer than this makes a table hashing with {@link stringHash} take new keys: a run
 * this long at half load means the keys were chosen to collide, not drawn at random (as
 * src/hub/delivery/recent-ids.ts does).
 */
export const MAX_PROBE = 64;

/** Two words for {@link stringHash}: `fixed` (a test's), or random, each table its own. */
export function hashKeys(fixed?: readonly [number, number]): Uint32Array {
  return fixed ? Uint32Array.from(fixed) : randomFillSync(new Uint32Array(2));
}

/**
 * A 32-bit hash of `text` for the project's open-addressing tables: FNV-1a over its UTF-16 code
 * units, from `seed` and the first word of `keys` and finished with the second, so keys a peer
 * chooses cannot be chosen to collide. Each table takes its own random keys ({@link hashKeys}),
 * and new ones when a probe runs past {@link MAX_PROBE} anyway.
 *
 * @example
 * const keys = hashKeys();
 * const slot = stringHash('req_1', keys) & (table.length - 1);
 */
export function stringHash(text: string, keys: Uint32Array, seed = 0): number {
  let hash = Math.imul(0x811c9dc5 ^ keys[0]! ^ seed, 0x01000193);
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16) ^ keys[1]!, 0x85ebca6b);
  return (hash ^ (hash >>> 13)) | 0;
}

/** The longest run of occupied cells in a table of `length` cells, wrapping past the end: what the slowest lookup walks (a diagnostic, O(length)). */
export function longestRun(length: number, occupied: (cell: number) => boolean): number {
  let longest = 0;
  let run = 0;
  // Twice round, so a run that wraps past the end is counted whole.
  for (let i = 0; i < length; i++) run = occupied(i) ? run + 1 : 0;
  for (let i = 0; i < length; i++) {
    run = occupied(i) ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  return Math.min(longest, length);
}
