import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ExecutionSnapshot } from '../../../src/hub/delivery/executions.ts';
import { type FinishedRecord, FinishedForm } from '../../../src/hub/delivery/finished-form.ts';
import { heapAfterGc } from '../../fuzz/heap.ts';

/**
 * What `hub.execution(id)` gives of the record while it is on the heap: a structured clone of it
 * as a snapshot, with no `outcome` key when it has none (as executions.ts's snapshotOf leaves it).
 */
function cloneOf(requestId: string, record: FinishedRecord): ExecutionSnapshot {
  const events = [];
  for (let i = 0; i < record.events.length; i += 4) {
    const id = record.events[i] as string | { suffix: string };
    events.push({
      event_id: typeof id === 'string' ? id : requestId + id.suffix,
      event_type: record.events[i + 1],
      data: record.events[i + 2],
      received_at: record.events[i + 3],
    });
  }
  const { device_id, tenant_id, job_type, status, created_at, updated_at, outcome } = record;
  return structuredClone({
    request_id: requestId,
    device_id,
    tenant_id,
    job_type,
    status,
    created_at,
    updated_at,
    events,
    ...(outcome === undefined ? {} : { outcome }),
  }) as ExecutionSnapshot;
}

/** A finished record of `events` and no outcome. */
function finishedOf(events: unknown[]): FinishedRecord {
  return {
    device_id: 'd',
    tenant_id: 't',
    job_type: 'tool',
    status: 'cancelled',
    created_at: 1,
    updated_at: 2,
    events,
    outcome: undefined,
  };
}

function roundTrip(form: FinishedForm, requestId: string, record: FinishedRecord): ExecutionSnapshot | undefined {
  const length = form.encode(record);
  return length === undefined ? undefined : form.snapshot(requestId, Buffer.from(form.bytes.subarray(0, length)));
}

const text = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)), maxLength: 12 });
const data = fc.oneof(
  fc.constant({}),
  fc.record({ queue_position: fc.integer() }),
  fc.dictionary(text, fc.oneof(fc.jsonValue(), fc.constantFrom(-0, undefined, Number.NaN)), { maxKeys: 3 }),
  fc.record({ at: fc.date({ noInvalidDate: true }) }),
);
const record = fc
  .record({
    device_id: fc.oneof(fc.constant('bench-device'), text),
    tenant_id: fc.oneof(fc.constant('bench'), text),
    job_type: fc.constantFrom('tool', 'playbook', 'chain'),
    status: fc.constantFrom('completed', 'failed', 'cancelled', 'timed_out', 'undelivered'),
    created_at: fc.double(),
    updated_at: fc.double(),
    events: fc.array(
      fc.record({
        id: fc.oneof(
          text,
          fc.constantFrom(':accepted', ':started', ':end', ':progress:7').map((suffix) => ({ suffix })),
        ),
        type: fc.constantFrom('accepted', 'started', 'progress', 'completed', 'failed'),
        data,
        at: fc.double(),
      }),
      { maxLength: 6 },
    ),
    outcome: fc.option(data, { nil: undefined }),
    outcomeIsLast: fc.boolean(),
  })
  .map(({ events, outcome, outcomeIsLast, ...rest }) => {
    const flat = events.flatMap((e) => [e.id, e.type, e.data, e.at]);
    // The outcome is the terminal event's data itself when there is one, as the store's #finish makes it.
    const last = flat.length > 0 && outcomeIsLast ? (flat[flat.length - 2] as Record<string, unknown>) : outcome;
    return { ...rest, events: flat, outcome: last } satisfies FinishedRecord;
  });

describe('FinishedForm', () => {
  it('gives back a structured clone of the record, or declines it', () => {
    const form = new FinishedForm();
    let kept = 0;
    fc.assert(
      fc.property(record, fc.string({ maxLength: 40 }), (finished, requestId) => {
        const back = roundTrip(form, requestId, finished);
        if (back === undefined) return;
        kept++;
        const clone = cloneOf(requestId, finished);
        expect(back).toStrictEqual(clone);
        // The outcome is an event's data object itself when it was in the record: a clone keeps that.
        const at = clone.events.findLastIndex((e) => e.data === clone.outcome);
        expect(back.events.findLastIndex((e) => e.data === back.outcome)).toBe(at);
      }),
      { numRuns: 1_000 },
    );
    expect(kept).toBeGreaterThan(300);
  });

  it('keeps the record of bench/round-trip, and declines one whose events share a data object', () => {
    const form = new FinishedForm();
    const end = { result: { text: 'hi' }, duration_ms: 0 };
    const finished: FinishedRecord = {
      device_id: 'bench-device',
      tenant_id: 'bench',
      job_type: 'tool',
      status: 'completed',
      created_at: 1,
      updated_at: 4,
      events: [
        { suffix: ':accepted' },
        'accepted',
        { queue_position: 1 },
        2,
        { suffix: ':started' },
        'started',
        {},
        3,
        { suffix: ':end' },
        'completed',
        end,
        4,
      ],
      outcome: end,
    };
    expect(roundTrip(form, 'req_1', finished)).toStrictEqual(cloneOf('req_1', finished));
    const shared = { n: 1 };
    expect(
      form.encode({ ...finished, events: ['a', 'progress', shared, 1, 'b', 'completed', shared, 2], outcome: shared }),
    ).toBeUndefined();
    expect(form.encode({ ...finished, events: ['a', 'completed', shared, 1], outcome: { again: shared } })).toBeUndefined();
  });

  it('leaves the outcome out of a snapshot of a record that has none, as a snapshot of it on the heap does', () => {
    const form = new FinishedForm();
    const pending = finishedOf([{ suffix: ':accepted' }, 'accepted', { queue_position: 0 }, 2]);
    const back = roundTrip(form, 'req_1', pending)!;
    expect('outcome' in back).toBe(false);
    expect(back).toStrictEqual(cloneOf('req_1', pending));
  });

  it('holds none of the data of a record it declines', async () => {
    const form = new FinishedForm();
    // Met by the writer before the Date that makes it decline the record.
    let data: Record<string, unknown> | undefined = { met: { n: 1 }, at: new Date(0) };
    const met = new WeakRef(data.met as object);
    expect(form.encode({ ...finishedOf(['e', 'completed', data, 2]), outcome: data })).toBeUndefined();
    data = undefined;
    // Collected turns later: a WeakRef's target lives to the end of the turn that made it.
    await heapAfterGc();
    expect(met.deref()).toBeUndefined();
  });

  it('writes out the names past the ones it numbers: every record of many devices reads back', () => {
    const form = new FinishedForm();
    const records = Array.from({ length: 1_500 }, (_, n) => ({ requestId: `req_${n}`, bytes: Buffer.alloc(0), device: `device-${n}` }));
    for (const entry of records) {
      const finished: FinishedRecord = {
        device_id: entry.device,
        tenant_id: `tenant-${entry.device}`,
        job_type: 'tool',
        status: 'undelivered',
        created_at: 0,
        updated_at: 0,
        events: [],
        outcome: { reason: 'resume window passed' },
      };
      entry.bytes = Buffer.from(form.bytes.subarray(0, form.encode(finished)!));
    }
    for (const { requestId, bytes, device } of records) {
      expect(form.owner(bytes)).toEqual([device, `tenant-${device}`]);
      expect(form.snapshot(requestId, bytes).device_id).toBe(device);
    }
  });
});
