/*
 * The cells of an open-addressing index with linear probing, as the hub's off-heap tables keep
 * them (src/hub/delivery/finished-records.ts, src/hub/usage/booked-reports.ts): a `Float64Array`
 * whose length is a power of two, 0 where empty, else the number of an entry of the owner's + 1.
 * Where a cell belongs is its entry's hash, which the owner keeps: `hashOf(cell)` reads it.
 */

/**
 * Empties cell `at`, moving back the cells after it that probing would no longer reach
 * (backward-shift deletion: no tombstones, so no probe ever walks past a deleted entry).
 *
 * @example
 * removeCell(index, at, (cell) => hashes[cell - 1]!);
 */
export function removeCell(index: Float64Array, at: number, hashOf: (cell: number) => number): void {
  const mask = index.length - 1;
  let hole = at;
  for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
    const home = hashOf(index[next]!) & mask;
    // It stays where it is if its home lies cyclically after the hole, up to where it sits.
    const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
    if (stays) continue;
    index[hole] = index[next]!;
    hole = next;
  }
  index[hole] = 0;
}

/**
 * Every cell of `old` put again into a new index of `length` cells, by its entry's hash: to grow,
 * or after the hash's keys changed.
 *
 * @example
 * index = rebuiltIndex(index, index.length * 2, (cell) => hashes[cell - 1]!);
 */
export function rebuiltIndex(old: Float64Array, length: number, hashOf: (cell: number) => number): Float64Array<ArrayBuffer> {
  const index = new Float64Array(length);
  const mask = length - 1;
  for (const cell of old) {
    if (cell === 0) continue;
    let at = hashOf(cell) & mask;
    while (index[at] !== 0) at = (at + 1) & mask;
    index[at] = cell;
  }
  return index;
}
