import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rebuiltIndex, removeCell } from '../../src/util/probe-cells.ts';

/** Where probing from `cell`'s home finds it, or -1 when an empty cell stops the walk first. */
function probe(index: Float64Array, cell: number, hashOf: (cell: number) => number): number {
  const mask = index.length - 1;
  for (let at = hashOf(cell) & mask; index[at] !== 0; at = (at + 1) & mask) if (index[at] === cell) return at;
  return -1;
}

describe('probe cells', () => {
  it('keeps every entry reachable from its home through removals and rebuilds, and holds exactly the live ones', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.boolean(),
        (hashes, removals, grow) => {
          // Hashes drawn freely, so homes collide and runs wrap round the end of the small index.
          const hashOf = (cell: number) => hashes[cell - 1]!;
          let index = rebuiltIndex(new Float64Array(hashes.map((_, i) => i + 1)), 128, hashOf);
          const live = new Set(hashes.map((_, i) => i + 1));
          for (const pick of removals) {
            const cell = [...live][pick % live.size];
            if (cell === undefined) break;
            removeCell(index, probe(index, cell, hashOf), hashOf);
            live.delete(cell);
            for (const kept of live) expect(probe(index, kept, hashOf)).not.toBe(-1);
          }
          if (grow) index = rebuiltIndex(index, 256, hashOf);
          expect([...index].filter((cell) => cell !== 0).sort((a, b) => a - b)).toEqual([...live].sort((a, b) => a - b));
          for (const kept of live) expect(probe(index, kept, hashOf)).not.toBe(-1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
