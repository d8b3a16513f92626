import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FinishedRecords } from '../../../src/hub/delivery/finished-records.ts';
import { collidingStrings } from '../../support/colliding-strings.ts';

describe('FinishedRecords', () => {
  it('answers as a list of (key, record) would, oldest dropped first', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        // Keys UTF-8 cannot carry (a lone surrogate) are kept beside, as objects are; bytes under them as a copy.
        key: fc.oneof(
          fc.integer({ min: 0, max: 60 }).map((n) => `req_${n}`),
          fc.constantFrom('\ud800', '\udc00x', ''),
        ),
        value: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.record({ n: fc.integer() })),
        // Bytes are given in a longer buffer, as a store's scratch gives them: only the first `length` are kept.
        slack: fc.integer({ min: 0, max: 8 }),
      }),
      fc.constant({ kind: 'drop' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const finished = new FinishedRecords<{ n: number }>();
        const oracle: Array<[string, Buffer | { n: number }]> = [];
        for (const step of ops) {
          if (step.kind === 'drop') {
            finished.dropOldest();
            oracle.shift();
          } else if (!oracle.some(([key]) => key === step.key)) {
            if (step.value instanceof Uint8Array) {
              const bytes = Buffer.alloc(step.value.length + step.slack, 0xee);
              bytes.set(step.value);
              finished.addBytes(step.key, bytes, step.value.length);
              // Its buffer written over after: what was kept is a copy.
              bytes.fill(0xdd);
              oracle.push([step.key, Buffer.from(step.value)]);
            } else {
              finished.add(step.key, step.value);
              oracle.push([step.key, step.value]);
            }
          }
          expect(finished.size).toBe(oracle.length);
        }
        for (const [key, value] of oracle) {
          expect(finished.has(key)).toBe(true);
          expect(finished.get(key)).toStrictEqual(value);
          // An object comes back as itself.
          if (!(value instanceof Uint8Array)) expect(finished.get(key)).toBe(value);
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
    const record = (n: number) => Buffer.from(`["bench-device","bench","tool","completed",${n},${n},2,0]`);
    for (let n = 0; n < 200_000; n++) {
      const bytes = record(n);
      finished.addBytes(`req_${n}`, bytes, bytes.length);
      if (finished.size > 1_000) finished.dropOldest();
    }
    expect(finished.size).toBe(1_000);
    expect(finished.has('req_198999')).toBe(false);
    expect(finished.get('req_199999')).toStrictEqual(record(199999));
    // 1,000 records of ~65 bytes in 64 KiB chunks: two or three chunks, not the 200,000 records' 13 MB.
    expect(finished.arenaBytes).toBeLessThanOrEqual(3 * 64 * 1_024);
  });

  it('request ids built to share a home cell under its keys make it take new keys: every record found, no long run', () => {
    const keys = [0x01234567, 0x89abcdef] as const;
    // 100 records in an index of 256 cells, every one homed at cell 0: a run of 100 under the keys they were built for.
    const ids = collidingStrings(100, keys, 255);
    const finished = new FinishedRecords<{ n: number }>(keys);
    // Bytes and objects both: the keys of both are hashed again.
    const bytes = (n: number) => Buffer.from(`bytes ${n}`);
    ids.forEach((id, n) => (n % 3 === 0 ? finished.add(id, { n }) : finished.addBytes(id, bytes(n), bytes(n).length)));
    expect(finished.rekeyed).toBeGreaterThan(0);
    expect(
      ids.every((id, n) => (n % 3 === 0 ? (finished.get(id) as { n: number }).n === n : bytes(n).equals(finished.get(id) as Buffer))),
    ).toBe(true);
    expect(finished.longestRun()).toBeLessThan(40);
    // Dropping the oldest still finds each one's cell under the new keys.
    for (let n = 0; n < 50; n++) finished.dropOldest();
    expect(ids.map((id) => finished.has(id))).toEqual(ids.map((_, n) => n >= 50));
  });

  it('request ids built against other keys than its own (random) ones spread like any others', () => {
    const finished = new FinishedRecords<never>();
    for (const id of collidingStrings(100, [0x01234567, 0x89abcdef], 255)) finished.addBytes(id, Buffer.from('x'), 1);
    expect(finished.rekeyed).toBe(0);
    expect(finished.longestRun()).toBeLessThan(40);
  });
});
