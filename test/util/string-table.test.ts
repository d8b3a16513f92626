import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StringTable } from '../../src/util/string-table.ts';
import { collidingStrings } from '../support/colliding-strings.ts';

describe('StringTable', () => {
  it('agrees with a Map on any sequence of sets, deletes and lookups', () => {
    // Few distinct keys, so entries collide, are deleted from the middle of runs and set again.
    const key = fc.oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom('', '\ud800', 'req_1', 'req_1 '));
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
      fc.record({ kind: fc.constant('delete' as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const table = new StringTable<number>();
        const oracle = new Map<string, number>();
        for (const step of ops) {
          if (step.kind === 'set') {
            table.set(step.key, step.value);
            oracle.set(step.key, step.value);
          } else expect(table.delete(step.key)).toBe(oracle.delete(step.key));
          expect(table.size).toBe(oracle.size);
        }
        for (let k = 0; k <= 40; k++) {
          expect(table.has(String(k))).toBe(oracle.has(String(k)));
          expect(table.get(String(k))).toBe(oracle.get(String(k)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds many keys, and none of those deleted', () => {
    const table = new StringTable<string>();
    for (let i = 0; i < 5_000; i++) table.set(`req_${i}`, `v${i}`);
    for (let i = 0; i < 5_000; i += 2) table.delete(`req_${i}`);
    expect(table.size).toBe(2_500);
    expect(table.get('req_4999')).toBe('v4999');
    expect(table.get('req_4998')).toBeUndefined();
  });

  it('keys built to share a home slot under its keys make it take new keys: every key found, no long run', () => {
    const keys = [0x01234567, 0x89abcdef] as const;
    // 100 keys in a table of 256 slots, every one homed at slot 0: a run of 100 under the keys they were built for.
    const ids = collidingStrings(100, keys, 255);
    const table = new StringTable<number>(keys);
    ids.forEach((id, i) => table.set(id, i));
    expect(table.rekeyed).toBeGreaterThan(0);
    expect(table.size).toBe(100);
    expect(ids.every((id, i) => table.get(id) === i)).toBe(true);
    expect(table.longestRun()).toBeLessThan(40);
    expect(table.delete(ids[7]!)).toBe(true);
    expect(table.has(ids[7]!)).toBe(false);
    expect(ids.filter((id) => table.has(id))).toHaveLength(99);
  });

  it('keys built against other keys than its own (random) ones spread like any others', () => {
    const table = new StringTable<number>();
    collidingStrings(100, [0x01234567, 0x89abcdef], 255).forEach((id, i) => table.set(id, i));
    expect(table.rekeyed).toBe(0);
    expect(table.longestRun()).toBeLessThan(40);
  });
});
