import { randomFillSync } from 'node:crypto';

/** A random word of this process, mixed into {@link stringHash}. */
const HASH_KEY = randomFillSync(new Uint32Array(1))[0]!;

/**
 * A 32-bit hash of `text` for the project's open-addressing tables: FNV-1a over its UTF-16 code
 * units, from `seed` and a random word of this process and finished with that word (as
 * src/execution/seen-requests.ts hashes), so keys a peer chooses cannot be chosen to collide.
 *
 * @example
 * const slot = stringHash('req_1') & (table.length - 1);
 */
export function stringHash(text: string, seed = 0): number {
  let hash = Math.imul(0x811c9dc5 ^ HASH_KEY ^ seed, 0x01000193);
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16) ^ HASH_KEY, 0x85ebca6b);
  return (hash ^ (hash >>> 13)) | 0;
}
