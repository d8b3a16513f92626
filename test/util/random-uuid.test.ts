import { describe, expect, it } from 'vitest';
import { randomUuid } from '../../src/util/random-uuid.ts';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUuid', () => {
  it('gives version 4 UUIDs in lower case, none twice, across many batches', () => {
    const ids = Array.from({ length: 1_000 }, () => randomUuid());
    for (const id of ids) expect(id).toMatch(V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws every random hex digit evenly: each of the 16 values within six deviations of its expected count', () => {
    const count = 4_096;
    const ids = Array.from({ length: count }, () => randomUuid());
    // The digits that carry randomness: all but the dashes, the version digit and the variant digit.
    const positions = Array.from({ length: 36 }, (_, i) => i).filter((i) => ![8, 13, 14, 18, 19, 23].includes(i));
    const expected = count / 16;
    const deviation = Math.sqrt(count * (1 / 16) * (15 / 16));
    for (const position of positions) {
      const counts = new Array<number>(16).fill(0);
      for (const id of ids) counts[parseInt(id[position]!, 16)]! += 1;
      for (const seen of counts) expect(Math.abs(seen - expected)).toBeLessThan(6 * deviation);
    }
    // The variant digit takes its four values (8, 9, a, b) about equally.
    const variants = new Map<string, number>();
    for (const id of ids) variants.set(id[19]!, (variants.get(id[19]!) ?? 0) + 1);
    expect([...variants.keys()].sort()).toEqual(['8', '9', 'a', 'b']);
    const quarter = Math.sqrt(count * (1 / 4) * (3 / 4));
    for (const seen of variants.values()) expect(Math.abs(seen - count / 4)).toBeLessThan(6 * quarter);
  });
});
