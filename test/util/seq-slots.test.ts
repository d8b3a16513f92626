import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeqSlots } from '../../src/util/seq-slots.ts';

type Op = { kind: 'set'; seq: number } | { kind: 'delete'; seq: number } | { kind: 'deleteUpTo'; seq: number };

describe('SeqSlots', () => {
  it('answers as a Map of the same operations would, and spans only from the lowest to the highest number held', () => {
    const seq = fc.integer({ min: 1, max: 60 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), seq }),
      fc.record({ kind: fc.constant('delete' as const), seq }),
      fc.record({ kind: fc.constant('deleteUpTo' as const), seq }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const slots = new SeqSlots<string>();
        const model = new Map<number, string>();
        ops.forEach((o, i) => {
          if (o.kind === 'set') {
            slots.set(o.seq, `v${i}`);
            model.set(o.seq, `v${i}`);
          } else if (o.kind === 'delete') {
            slots.delete(o.seq);
            model.delete(o.seq);
          } else {
            slots.deleteUpTo(o.seq);
            for (const key of [...model.keys()]) if (key <= o.seq) model.delete(key);
          }
        });
        for (let n = 0; n <= 61; n++) expect(slots.get(n)).toBe(model.get(n));
        const keys = [...model.keys()];
        expect(slots.span).toBe(keys.length === 0 ? 0 : Math.max(...keys) - Math.min(...keys) + 1);
      }),
    );
  });

  it('keeps an outbox window: frames appended in order, acknowledged from the front', () => {
    const slots = new SeqSlots<number>();
    for (let seq = 1; seq <= 1_000; seq++) {
      slots.set(seq, seq);
      if (seq % 4 === 0) slots.deleteUpTo(seq - 2);
    }
    expect(slots.span).toBe(2);
    expect([slots.get(998), slots.get(999), slots.get(1_000)]).toEqual([undefined, 999, 1_000]);
  });
});
