import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FinishedRecords } from '../../../src/hub/delivery/finished-records.ts';
import { collidingStrings } from '../../support/colliding-strings.ts';

describe('FinishedRecords', () => {
  it('answers as a list of (key, record) would, oldest dropped first', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        // Keys UTF-8 cannot carry (a lone surrogate) are kept beside, as objects are.
        key: fc.oneof(
          fc.integer({ min: 0, max: 60 }).map((n) => `req_${n}`),
          fc.constantFrom('\ud800', '\udc00x', ''),
        ),
        value: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.record({ n: fc.integer() })),
      }),
      fc.constant({ kind: 'drop' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const finished = new FinishedRecords<{ n: number }>();
        const oracle: Array<[string, string | { n: number }]> = [];
        for (const step of ops) {
          if (step.kind === 'drop') {
            finished.dropOldest();
            oracle.shift();
          } else if (!oracle.some(([key]) => key === step.key)) {
            finished.add(step.key, step.value);
            oracle.push([step.key, step.value]);
          }
          expect(finished.size).toBe(oracle.length);
        }
        for (const [key, value] of oracle) {
          expect(finished.has(key)).toBe(true);
          expect(finished.get(key)).toStrictEqual(value);
          // An object comes back as itself.
          if (typeof value !== 'string') expect(finished.get(key)).toBe(value);
        }
        for (let n = 0; n <= 60; n++) {
          const key = `req_${n}`;
          if (!oracle.some(([k]) => k === key)) expect(finished.get(key)).toBeUndefined();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds a window of records in bounded memory however many pass through', () => {
    const finished = new FinishedRecords<never>();
    for (let n = 0; n < 200_000; n++) {
      finished.add(`req_${n}`, `["bench-device","bench","tool","completed",${n},${n},2,0]`);
      if (finished.size > 1_000) finished.dropOldest();
    }
    expect(finished.size).toBe(1_000);
    expect(finished.has('req_198999')).toBe(false);
    expect(finished.get('req_199999')).toBe('["bench-device","bench","tool","completed",199999,199999,2,0]');
    // 1,000 records of ~65 bytes in 64 KiB chunks: two or three chunks, not the 200,000 records' 13 MB.
    expect(finished.arenaBytes).toBeLessThanOrEqual(3 * 64 * 1_024);
  });

  it('request ids built to share a home cell under its keys make it take new keys: every record found, no long run', () => {
    const keys = [0x01234567, 0x89abcdef] as const;
    // 100 records in an index of 256 cells, every one homed at cell 0: a run of 100 under the keys they were built for.
    const ids = collidingStrings(100, keys, 255);
    const finished = new FinishedRecords<{ n: number }>(keys);
    // Text and objects both: the keys of both are hashed again.
    ids.forEach((id, n) => finished.add(id, n % 3 === 0 ? { n } : `text ${n}`));
    expect(finished.rekeyed).toBeGreaterThan(0);
    expect(ids.every((id, n) => (n % 3 === 0 ? (finished.get(id) as { n: number }).n === n : finished.get(id) === `text ${n}`))).toBe(true);
    expect(finished.longestRun()).toBeLessThan(40);
    // Dropping the oldest still finds each one's cell under the new keys.
    for (let n = 0; n < 50; n++) finished.dropOldest();
    expect(ids.map((id) => finished.has(id))).toEqual(ids.map((_, n) => n >= 50));
  });

  it('request ids built against other keys than its own (random) ones spread like any others', () => {
    const finished = new FinishedRecords<never>();
    for (const id of collidingStrings(100, [0x01234567, 0x89abcdef], 255)) finished.add(id, 'x');
    expect(finished.rekeyed).toBe(0);
    expect(finished.longestRun()).toBeLessThan(40);
  });
});
