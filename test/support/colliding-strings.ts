import { stringHash } from '../../src/util/string-hash.ts';

/**
 * `count` distinct request-id-like strings whose `stringHash` under `keys` (and `seed`), each `prefix` and a number, agree in
 * their low bits (`mask`): one home slot in a table of `mask + 1` cells, or any smaller one. Found
 * by trying ids in turn: about `count * (mask + 1)` hashes.
 */
export function collidingStrings(count: number, keys: readonly [number, number], mask: number, seed = 0, prefix = 'req_'): string[] {
  const words = Uint32Array.from(keys);
  const found: string[] = [];
  for (let n = 0; found.length < count; n++) {
    const id = `${prefix}${n.toString(36)}`;
    if ((stringHash(id, words, seed) & mask) === 0) found.push(id);
  }
  return found;
}
