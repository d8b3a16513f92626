import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StringTable } from '../../src/util/string-table.ts';

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
});
