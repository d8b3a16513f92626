import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../../src/hub/delivery/recent-ids.ts';

describe('RecentIds', () => {
  it('remembers the last `limit` ids added and forgets the oldest first', () => {
    const recent = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) recent.add(id);
    expect(['a', 'b', 'c', 'd'].map((id) => recent.has(id))).toEqual([false, true, true, true]);
  });

  it('a deleted id added again stays for a whole window from its new place', () => {
    const recent = new RecentIds(3);
    recent.add('a');
    recent.delete('a');
    recent.add('a'); // slots: (freed a), a
    recent.add('b');
    recent.add('c'); // the freed slot is reused; the second 'a' is still inside the window
    expect(recent.has('a')).toBe(true);
    recent.add('d');
    expect(recent.has('a')).toBe(false);
  });

  it('agrees with the plain definition on any sequence of adds, deletes and lookups', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), id: fc.integer({ min: 0, max: 12 }) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 12 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 80 }), (limit, ops) => {
        const recent = new RecentIds(limit);
        // The reference: slots in order of adding, each holding an id or nothing (deleted).
        const slots: Array<string | undefined> = [];
        for (const { kind, id } of ops) {
          const key = `id-${id}`;
          const live = slots.slice(-limit);
          if (kind === 'add' && !live.includes(key)) slots.push(key);
          if (kind === 'delete') {
            const at = slots.lastIndexOf(key);
            if (at >= slots.length - limit && at >= 0) slots[at] = undefined;
          }
          if (kind === 'add') recent.add(key);
          else recent.delete(key);
          const window = new Set(slots.slice(-limit).filter((s): s is string => s !== undefined));
          for (let k = 0; k <= 12; k++) expect(recent.has(`id-${k}`)).toBe(window.has(`id-${k}`));
        }
      }),
      { numRuns: 300 },
    );
  });
});
