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
 * A table's keys for {@link stringHash}, and when to take new ones: the defence against keys a
 * peer chose to collide that each open-addressing table hashing peer-chosen ids holds. The table
 * hashes with {@link words}; after each add it asks {@link rekeyAfterAdd}, and when that took new
 * keys it hashes every key again and rebuilds.
 *
 * @example
 * const keys = new HashKeys();
 * const hash = stringHash('req_1', keys.words);
 * // …placed at cell `at` of `table.length` (grown first if it had to)…
 * if (keys.rekeyAfterAdd((at - hash) & (oldLength - 1), table.length)) rehashAndRebuild();
 */
export class HashKeys {
  /** The keys now: random, and new ones whenever a probe runs past {@link MAX_PROBE}. */
  words: Uint32Array;
  /** Adds since the keys changed: new ones at most once per quarter table of adds, so rebuilding stays amortised. */
  #addsSinceRekey = 0;
  #rekeyed = 0;

  /** @param fixed the first keys (two words); random unless a test fixes them. */
  constructor(fixed?: readonly [number, number]) {
    this.words = hashKeys(fixed);
  }

  /** How many times new keys were taken since they were made (a diagnostic: keys built to collide). */
  get rekeyed(): number {
    return this.#rekeyed;
  }

  /**
   * Counts an add whose probe walked `walked` cells past its home, in a table now of `length`
   * cells; takes new keys when that walk ran past {@link MAX_PROBE} and more than a quarter table
   * of adds came since the last: true then, and the table must hash every key again and rebuild.
   */
  rekeyAfterAdd(walked: number, length: number): boolean {
    this.#addsSinceRekey++;
    if (walked <= MAX_PROBE || this.#addsSinceRekey * 4 <= length) return false;
    this.words = hashKeys();
    this.#rekeyed++;
    this.#addsSinceRekey = 0;
    return true;
  }
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
