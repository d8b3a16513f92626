import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isJsonExact } from '../../src/util/json-exact.ts';
import { cloneableValue } from '../support/cloneable-value.ts';

describe('isJsonExact', () => {
  it('takes what JSON gives back as a structured clone does, and only that', () => {
    // Values JSON writes, values it changes (-0, undefined, holes, dates, maps) and values it cannot write (bigint).
    const value = cloneableValue();
    fc.assert(
      fc.property(value, (v) => {
        let roundTrip: unknown;
        let same: boolean;
        try {
          roundTrip = JSON.parse(JSON.stringify(v) ?? 'null');
          expect(roundTrip).toStrictEqual(structuredClone(v));
          same = true;
        } catch {
          same = false;
        }
        // Exact ⇒ the same; and a value the same both ways is called exact unless it holds what JSON only happens to match.
        if (isJsonExact(v)) expect(same).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('takes everything JSON.parse gives', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(isJsonExact(JSON.parse(text))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('says true for what a frame gives and false for each thing JSON changes', () => {
    expect(isJsonExact(JSON.parse('{"a":[1,"x",null,true,{"b":{}}],"c":1.5e300,"__proto__":2}'))).toBe(true);
    expect(isJsonExact('\ud800')).toBe(true);
    const shared = { n: 1 };
    const holey: unknown[] = [1];
    holey[2] = 3;
    const extra = Object.assign([1, 2], { more: true });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const deep = Array.from({ length: 100 }).reduce<unknown>((inner) => [inner], 0);
    for (const v of [
      -0,
      { n: -0 },
      Number.NaN,
      Infinity,
      undefined,
      { a: undefined },
      [undefined],
      new Date(0),
      new Map(),
      10n,
      () => 1,
      Symbol('s'),
      holey,
      extra,
      { a: shared, b: shared },
      cyclic,
      deep,
      new Proxy({}, {}),
      // A toJSON JSON calls and a clone ignores: hidden, own, and on an array.
      Object.defineProperty({ a: 1 }, 'toJSON', { value: () => ({ replaced: true }), enumerable: false }),
      { toJSON: () => 1 },
      Object.defineProperty([1], 'toJSON', { value: () => 2, enumerable: false }),
      new (class Point {
        x = 1;
      })(),
    ])
      expect(isJsonExact(v)).toBe(false);
    // Left out by both: symbol keys and non-enumerable ones.
    expect(isJsonExact(Object.defineProperty({ [Symbol('k')]: 1 }, 'hidden', { value: 1, enumerable: false }))).toBe(true);
  });
});
