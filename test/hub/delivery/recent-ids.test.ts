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

  it('keeps UUIDs apart from every other spelling, through growth and wrap-around', () => {
    // UUIDs that differ in one digit, other spellings of one, and ids of other forms.
    const base = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9';
    const pool = [
      base,
      base.replace(/9$/, '8'),
      base.replace(/^0/, '1'),
      base.replace('4978', '4979'),
      base.toUpperCase(),
      base.replace(/-/g, '_'),
      // Not hex digits, each next to a digit's code or sharing its low bits: not read as the UUID whose digit they replace.
      ...['/', ':', '`', 'g', 'G', '\u0130', '\uff10', '\u0000'].map((c) => c + base.slice(1)),
      'id-1',
      'id-2',
    ];
    const op = fc.record({
      kind: fc.constantFrom('add' as const, 'add' as const, 'delete' as const),
      // Fresh UUIDs fill the window so it grows and wraps; the pool's ids come back to be looked up.
      id: fc.oneof(fc.constantFrom(...pool), fc.uuid()),
    });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), fc.array(op, { maxLength: 400 }), (limit, ops) => {
        const recent = new RecentIds(limit);
        const slots: Array<string | undefined> = [];
        for (const { kind, id } of ops) {
          const live = slots.slice(-limit);
          if (kind === 'add') expect(recent.add(id)).toBe(!live.includes(id));
          else recent.delete(id);
          if (kind === 'add' && !live.includes(id)) slots.push(id);
          if (kind === 'delete') {
            const at = slots.lastIndexOf(id);
            if (at >= slots.length - limit && at >= 0) slots[at] = undefined;
          }
        }
        const window = new Set(slots.slice(-limit).filter((s): s is string => s !== undefined));
        for (const id of [...pool, ...slots.filter((s): s is string => s !== undefined)]) expect(recent.has(id)).toBe(window.has(id));
      }),
      { numRuns: 300 },
    );
  });

  it('holds a window of 50,000 UUIDs: each found until 50,000 more came', () => {
    const recent = new RecentIds(50_000);
    const ids = Array.from({ length: 60_000 }, (_, i) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`);
    for (const id of ids) expect(recent.add(id)).toBe(true);
    expect(recent.has(ids[9_999]!)).toBe(false);
    expect(ids.slice(10_000).every((id) => recent.has(id))).toBe(true);
    expect(recent.add(ids[59_999]!)).toBe(false);
  });

  /**
   * A UUID, spelled as a device would send it, whose hash under `keys` is the same for every `i`:
   * the last word undoes the first three rounds (src/hub/delivery/recent-ids.ts, `hash`).
   */
  function colliding(i: number, keys: readonly [number, number]): string {
    const [w0, w1, w2] = [i >>> 0, 0x70001234, 0x80000000];
    let h = Math.imul(w0 ^ keys[0], 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ w1, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ w2, 0x85ebca6b);
    const w3 = (h ^ (h >>> 13) ^ 0x12345678) >>> 0;
    const [a, b, c, d] = [w0, w1, w2, w3].map((w) => w.toString(16).padStart(8, '0')) as [string, string, string, string];
    return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${d}`;
  }

  const KNOWN_KEYS = [0x01234567, 0x89abcdef] as const;

  it('ids built to share one hash under its keys make it take new keys: no lookup walks the window', () => {
    const recent = new RecentIds(50_000, KNOWN_KEYS);
    const ids = Array.from({ length: 50_000 }, (_, i) => colliding(i, KNOWN_KEYS));
    for (const id of ids) expect(recent.add(id)).toBe(true);
    expect(recent.rekeyed).toBeGreaterThan(0);
    // Under the keys they were built for they would be one run of 50,000.
    expect(recent.longestRun()).toBeLessThan(200);
    expect(ids.every((id) => recent.has(id))).toBe(true);
    expect(recent.add(ids[123]!)).toBe(false);
  });

  it('ids built against other keys than its own (random) ones spread like any others', () => {
    const recent = new RecentIds(50_000);
    for (let i = 0; i < 50_000; i++) recent.add(colliding(i, KNOWN_KEYS));
    expect(recent.longestRun()).toBeLessThan(200);
  });
});
