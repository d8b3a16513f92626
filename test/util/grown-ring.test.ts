import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grownRing } from '../../src/util/grown-ring.ts';

describe('grownRing', () => {
  it('puts every live ticket where the doubled mask finds it, with all its fields, past 2^31 too', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3),
        fc.constantFrom(4, 8, 16),
        fc.oneof(fc.nat(1_000), fc.constant(2 ** 31 - 5), fc.constant(2 ** 40 + 3)),
        fc.nat(),
        (fields, slots, first, seed) => {
          const live = seed % (slots + 1);
          const ring = new Float64Array(slots * fields);
          // Each field of a ticket holds the ticket and the field's number: where it lands says whether it moved right.
          for (let ticket = first; ticket < first + live; ticket++)
            for (let field = 0; field < fields; field++) ring[(ticket & (slots - 1)) * fields + field] = ticket + field / 10;
          const grown = grownRing(ring, fields, first, first + live);
          expect(grown).toBeInstanceOf(Float64Array);
          expect(grown.length).toBe(2 * slots * fields);
          for (let ticket = first; ticket < first + live; ticket++)
            for (let field = 0; field < fields; field++)
              expect(grown[(ticket & (2 * slots - 1)) * fields + field]).toBe(ticket + field / 10);
        },
      ),
    );
  });

  it('keeps the kind of typed array it is given', () => {
    expect(grownRing(new Uint8Array([7, 9]), 1, 0, 2)).toEqual(new Uint8Array([7, 9, 0, 0]));
    // Tickets 1 and 2 sat in slots 1 and 0; with four slots, in 1 and 2.
    expect(grownRing(new Int32Array([-1, 5]), 1, 1, 3)).toEqual(new Int32Array([0, 5, -1, 0]));
  });
});
