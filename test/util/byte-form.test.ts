import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter } from '../../src/util/byte-form.ts';
import { cloneableValue } from '../support/cloneable-value.ts';

/** Any UTF-16 code units: lone surrogates, units above 0xff and below, long strings (written natively) and short (a unit at a time). */
const anyString = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), maxLength: 100 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((unit) => String.fromCharCode(unit)), minLength: 60, maxLength: 200 }),
);

/**
 * Numbers of every form the writer picks: small integers (one byte), int32s and their edges (four),
 * just past them, -0 and fractions (a float).
 */
const anyNumber = fc.oneof(
  fc.integer({ min: -200, max: 200 }),
  fc.integer(),
  fc.constantFrom(-128, 127, -129, 128, 2147483647, -2147483648, 2147483648, -2147483649, -0, 0.5, -127.5, 2 ** 53),
  fc.double(),
);

/** Plain data, what a clone keeps that JSON does not, and what the form declines (dates, maps, holes, bigints). */
const value = cloneableValue({
  string: anyString,
  number: anyNumber,
  moreNodes: (tie) => [
    fc.sparseArray(tie('node'), { maxLength: 4 }),
    fc.dictionary(anyString, tie('node'), { maxKeys: 4, noNullPrototype: false }),
    fc.constant(new Map([[1, 2]])),
  ],
});

function written(values: unknown[]): boolean {
  const writer = new ByteWriter();
  writer.reset();
  return values.every((v) => writer.value(v));
}

function readBack(values: unknown[]): unknown[] {
  const writer = new ByteWriter();
  writer.reset();
  for (const v of values) if (!writer.value(v)) throw new Error('not written');
  const reader = new ByteReader(Buffer.from(writer.bytes.subarray(0, writer.at)));
  const back = values.map(() => reader.value());
  expect(reader.at).toBe(writer.at);
  return back;
}

describe('ByteWriter and ByteReader', () => {
  it('give back what a structured clone gives of each value written, and decline the rest', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 3 }), (values) => {
        if (!written(values)) return;
        const back = readBack(values);
        // Apart: each as its own clone (the writer declined an object met in two).
        expect(back).toStrictEqual(values.map((v) => structuredClone(v)));
      }),
      { numRuns: 2_000 },
    );
  });

  it('write everything JSON.parse gives (what a frame holds)', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const parsed: unknown = JSON.parse(text);
        expect(written([parsed])).toBe(true);
        expect(readBack([parsed])).toStrictEqual([parsed]);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps -0, NaN, undefined, a lone surrogate and `__proto__` as an own key, as a clone does', () => {
    const parsed = JSON.parse('{"__proto__":{"x":1},"a":[1,"\\ud800",null]}') as Record<string, unknown>;
    const odd = { minusZero: -0, nan: Number.NaN, missing: undefined, lone: '\udc00x', nested: parsed };
    const [back] = readBack([odd]) as [typeof odd];
    expect(back).toStrictEqual(structuredClone(odd));
    expect(Object.is(back.minusZero, -0)).toBe(true);
    expect('missing' in back).toBe(true);
    expect(Object.getPrototypeOf(back.nested)).toBe(Object.prototype);
    expect(Object.keys(back.nested)).toEqual(['__proto__', 'a']);
  });

  it('gives every number back as itself, in one byte, four or eight as it needs', () => {
    fc.assert(
      fc.property(anyNumber, (n) => {
        const writer = new ByteWriter();
        writer.reset();
        writer.value(n);
        const [back] = readBack([n]);
        expect(Object.is(back, n)).toBe(true);
        // A tag and the number: a byte for -128..127, four for other int32s, a float for the rest (-0 too).
        const int32 = (n | 0) === n && !Object.is(n, -0);
        expect(writer.at).toBe(int32 ? (n >= -128 && n <= 127 ? 2 : 5) : 9);
      }),
      { numRuns: 2_000 },
    );
  });

  it('takes data nested as deep as a frame may hold (128, src/protocol/envelope.ts), and declines one level more', () => {
    const nested = (levels: number): unknown =>
      Array.from({ length: levels - 1 }).reduce<unknown>((inner, _, n) => (n % 2 === 0 ? [inner] : { in: inner }), [1.5]);
    const deepest = nested(128);
    expect(written([deepest])).toBe(true);
    expect(readBack([deepest])).toStrictEqual([structuredClone(deepest)]);
    expect(written([nested(129)])).toBe(false);
  });

  it('forgets the objects met on forgetMet, keeping the bytes written', () => {
    const shared = { n: 1 };
    const writer = new ByteWriter();
    writer.reset();
    expect(writer.value(shared)).toBe(true);
    const at = writer.at;
    writer.forgetMet();
    expect(writer.at).toBe(at);
    expect(writer.value(shared)).toBe(true);
    expect(new ByteReader(writer.bytes).value()).toStrictEqual(shared);
  });

  it('lets go of a buffer a huge record grew, at the next reset, and keeps one grown less', () => {
    const writer = new ByteWriter();
    writer.reset();
    writer.value('x'.repeat(300 * 1024));
    expect(writer.bytes.length).toBeGreaterThan(256 * 1024);
    writer.reset();
    expect(writer.bytes.length).toBeLessThanOrEqual(1_024);
    writer.value('x'.repeat(100 * 1024));
    const grown = writer.bytes;
    writer.reset();
    expect(writer.bytes).toBe(grown);
  });

  it('declines what a clone would give otherwise or refuse: an object met twice, a cycle, a proxy, a class, holes, deep nesting', () => {
    const shared = { n: 1 };
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const holey: unknown[] = [1];
    holey[2] = 3;
    const deep = Array.from({ length: 200 }).reduce<unknown>((inner) => [inner], 0);
    expect(written([{ a: shared, b: shared }])).toBe(false);
    expect(written([shared, { again: shared }])).toBe(false);
    expect(written([cyclic])).toBe(false);
    expect(written([new Proxy({}, {})])).toBe(false);
    expect(written([new Date(0)])).toBe(false);
    expect(written([holey])).toBe(false);
    expect(written([Object.assign([1], { more: true })])).toBe(false);
    expect(written([deep])).toBe(false);
    expect(written([() => 1])).toBe(false);
    // Many objects: found again through the set the list becomes.
    const many = Array.from({ length: 100 }, (_, n) => ({ n }));
    expect(written([many])).toBe(true);
    expect(written([[...many, many[70]]])).toBe(false);
  });

  it('reads fields back in the order written, past the first buffer', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('u8' as const), n: fc.integer({ min: 0, max: 0xff }) }),
            fc.record({ kind: fc.constant('u16' as const), n: fc.integer({ min: 0, max: 0xffff }) }),
            fc.record({ kind: fc.constant('u32' as const), n: fc.integer({ min: 0, max: 0xffffffff }) }),
            fc.record({ kind: fc.constant('i32' as const), n: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
            fc.record({ kind: fc.constant('f64' as const), n: fc.double() }),
            fc.record({ kind: fc.constant('string' as const), text: anyString }),
          ),
          { maxLength: 80 },
        ),
        (fields) => {
          const writer = new ByteWriter();
          writer.reset();
          for (const field of fields) {
            if (field.kind === 'string') writer.string(field.text);
            else writer[field.kind](field.n);
          }
          const reader = new ByteReader(writer.bytes);
          for (const field of fields) {
            if (field.kind === 'string') expect(reader.string()).toBe(field.text);
            else expect(reader[field.kind]()).toBe(field.n);
          }
          expect(reader.at).toBe(writer.at);
        },
      ),
      { numRuns: 300 },
    );
  });
});
