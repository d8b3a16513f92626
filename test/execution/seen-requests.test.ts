import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { executionEventMessage, usageReportMessage } from '../../src/protocol/built-messages.ts';
import { type SeenState, SeenRequests, type StoredOutcome } from '../../src/execution/seen-requests.ts';

type Op =
  | { kind: 'activate'; id: number }
  | { kind: 'know'; id: number }
  | { kind: 'end'; id: number; text: string; framed: boolean }
  | { kind: 'frame'; id: number }
  | { kind: 'forget'; id: number }
  | { kind: 'flush' };

/** The executor's bookkeeping as it was before SeenRequests: a Map of states and a queue of forgettable entries. */
class ModelSeen {
  readonly states = new Map<string, { state: SeenState; outcome?: StoredOutcome }>();
  readonly #forgettable: Array<[string, object]> = [];
  constructor(readonly limit: number) {}
  set(id: string, entry: { state: SeenState; outcome?: StoredOutcome }): void {
    this.states.set(id, entry);
    if (entry.state === 'active') return;
    this.#forgettable.push([id, entry]);
    while (this.states.size > this.limit && this.#forgettable.length > 0) {
      const [oldest, old] = this.#forgettable.shift()!;
      if (this.states.get(oldest) === old) this.states.delete(oldest);
    }
  }
}

/** Request ids of a few lengths, some not ASCII. */
const idOf = (n: number) => (n % 3 === 0 ? `é-${n}` : n % 3 === 1 ? `req_${n}` : `req_${'x'.repeat(n)}-${n}`);

/** A frame as the outbox makes it: the message with its sequence number and the protocol version. */
const frameOf = (message: object, seq: number) => JSON.stringify({ ...message, seq, v: 1 });

function outcomeOf(requestId: string, text: string, n: number): StoredOutcome {
  const stamp = { id: `m-${n}`, ts: 1_767_225_600_000 + n };
  return {
    terminal: executionEventMessage(requestId, { type: 'completed' }, { result: { text }, duration_ms: n }, stamp),
    usage: usageReportMessage(requestId, 'dev-1', { durationMs: n, inputTokens: n % 3, outputTokens: 0, costEstimate: 0 }, stamp),
  };
}

describe('SeenRequests', () => {
  it('answers as a Map of states with a queue of forgettable entries would, outcomes included', () => {
    const id = fc.integer({ min: 1, max: 40 });
    // Results from empty to a few kilobytes, some not ASCII: the arena moves and grows under them.
    const text = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ minLength: 2_000, maxLength: 6_000 }), fc.constant('é€😀'));
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('activate' as const), id }),
      fc.record({ kind: fc.constant('know' as const), id }),
      fc.record({ kind: fc.constant('end' as const), id, text, framed: fc.boolean() }),
      fc.record({ kind: fc.constant('frame' as const), id }),
      fc.record({ kind: fc.constant('forget' as const), id }),
      // Framed ends are held as strings until a flush: some are dropped or forgotten before it.
      fc.record({ kind: fc.constant('flush' as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.array(op, { maxLength: 300 }), (limit, ops) => {
        const seen = new SeenRequests(limit);
        const model = new ModelSeen(limit);
        ops.forEach((o, n) => {
          const requestId = o.kind === 'flush' ? '' : idOf(o.id);
          if (o.kind === 'activate') {
            seen.activate(requestId);
            model.states.set(requestId, { state: 'active' });
          } else if (o.kind === 'know') {
            seen.know(requestId);
            model.set(requestId, { state: 'known' });
          } else if (o.kind === 'end') {
            const outcome = outcomeOf(requestId, o.text, n);
            if (o.framed)
              seen.end(requestId, outcome.terminal, outcome.usage, frameOf(outcome.terminal, 2 * n), frameOf(outcome.usage, 2 * n + 1));
            else seen.end(requestId, outcome.terminal, outcome.usage);
            model.set(requestId, { state: 'ended', outcome });
          } else if (o.kind === 'frame') {
            const outcome = model.states.get(requestId)?.outcome;
            // Framing changes what is kept, never what a redelivery gets.
            if (outcome) seen.frame(requestId, frameOf(outcome.terminal, n), frameOf(outcome.usage, n));
          } else if (o.kind === 'flush') {
            seen.flush();
          } else {
            seen.forget(requestId);
            model.states.delete(requestId);
          }
        });
        expect(seen.size).toBe(model.states.size);
        for (let n = 1; n <= 40; n++) {
          const requestId = idOf(n);
          const expected = model.states.get(requestId);
          expect(seen.state(requestId)).toBe(expected?.state);
          expect(seen.outcome(requestId)).toEqual(expected?.outcome);
        }
      }),
    );
  });

  it('keeps an outcome framed after later ones were (an end that waited for storage) when the arena moves', () => {
    const seen = new SeenRequests(1_000);
    const late = outcomeOf('req_late', 'late', 1);
    const next = outcomeOf('req_next', 'next', 2);
    seen.end('req_late', late.terminal, late.usage);
    seen.end('req_next', next.terminal, next.usage, frameOf(next.terminal, 2), frameOf(next.usage, 3));
    seen.frame('req_late', frameOf(late.terminal, 1), frameOf(late.usage, 4));
    // Its bytes come after those of a newer entry: the arena moves and grows under both.
    for (let n = 3; n < 300; n++) {
      const { terminal, usage } = outcomeOf(`req_${n}`, 'x'.repeat(5_000), n);
      seen.end(`req_${n}`, terminal, usage, frameOf(terminal, 2 * n), frameOf(usage, 2 * n + 1));
    }
    expect(seen.outcome('req_late')).toEqual(late);
    expect(seen.outcome('req_next')).toEqual(next);
  });

  it('keeps the last outcomes of a long run, and only their bytes', () => {
    const seen = new SeenRequests(100);
    const text = 'x'.repeat(500);
    for (let n = 1; n <= 20_000; n++) {
      const { terminal, usage } = outcomeOf(`req_${n}`, text, n);
      seen.activate(`req_${n}`);
      seen.end(`req_${n}`, terminal, usage, frameOf(terminal, n), frameOf(usage, n));
    }
    expect(seen.size).toBe(100);
    expect(seen.state('req_19900')).toBeUndefined();
    expect(seen.outcome('req_19901')).toEqual(outcomeOf('req_19901', text, 19_901));
    expect(seen.outcome('req_20000')).toEqual(outcomeOf('req_20000', text, 20_000));
    // About 1 KB per outcome: the arena holds the last hundred, not every one written (20 MB).
    expect(seen.arenaBytes).toBeLessThanOrEqual(1024 * 1024);
  });
});

describe('SeenRequests holding frames until the end of the turn', () => {
  it('answers for a held outcome before and after the flush the end scheduled', async () => {
    const seen = new SeenRequests(10);
    const { terminal, usage } = outcomeOf('req_1', 'é€😀', 1);
    seen.activate('req_1');
    seen.end('req_1', terminal, usage, frameOf(terminal, 1), frameOf(usage, 2));
    expect(seen.heldOutcomes).toBe(1);
    expect(seen.state('req_1')).toBe('ended');
    expect(seen.outcome('req_1')).toEqual({ terminal, usage });
    // The end's flush runs after the turn's held writes, in a setImmediate queued before this one.
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.heldOutcomes).toBe(0);
    expect(seen.state('req_1')).toBe('ended');
    expect(seen.outcome('req_1')).toEqual({ terminal, usage });
  });

  it('never holds more than a few hundred outcomes: a burst of ends in one turn is copied as it goes', () => {
    const seen = new SeenRequests(100_000);
    const text = 'x'.repeat(2_000);
    for (let n = 1; n <= 2_000; n++) {
      const { terminal, usage } = outcomeOf(`req_${n}`, text, n);
      seen.end(`req_${n}`, terminal, usage, frameOf(terminal, n), frameOf(usage, n));
      expect(seen.heldOutcomes).toBeLessThanOrEqual(256);
    }
    expect(seen.outcome('req_1')).toEqual(outcomeOf('req_1', text, 1));
    expect(seen.outcome('req_2000')).toEqual(outcomeOf('req_2000', text, 2_000));
  });

  it('copies nothing of a held outcome dropped as the oldest before the flush, whose slot a newer one has taken', () => {
    const seen = new SeenRequests(2);
    // Forty ends and two remembered: the slots go round more than twice before the flush.
    for (let n = 1; n <= 40; n++) {
      const { terminal, usage } = outcomeOf(`req_${n}`, `text ${n}`, n);
      seen.end(`req_${n}`, terminal, usage, frameOf(terminal, n), frameOf(usage, n));
    }
    seen.flush();
    expect(seen.state('req_1')).toBeUndefined();
    expect(seen.outcome('req_38')).toBeUndefined();
    expect(seen.outcome('req_39')).toEqual(outcomeOf('req_39', 'text 39', 39));
    expect(seen.outcome('req_40')).toEqual(outcomeOf('req_40', 'text 40', 40));
    expect(seen.size).toBe(2);
  });
});
