import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  ackMessage,
  type Built,
  heartbeatAckMessage,
  capacityMessage,
  type EventKind,
  executionEventMessage,
  executionRequestMessage,
  nackMessage,
  usageReportMessage,
} from '../../src/protocol/built-messages.ts';
import { type Codec, type CodecResult, createCodec } from '../../src/protocol/codec.ts';
import { type MessageOf, messageSchemas, type Outbound } from '../../src/protocol/messages.ts';

/*
 * The runtime's own frames skip the schema pass (`Codec.encodeBuilt`): their constructors stand
 * in for it. Here, over generated inputs from each constructor's domain, every message they
 * make passes its zod schema, encodes to the same JSON value as the validating `encode` gives,
 * and decodes at the hub.
 */

const RUNS = 300;
const ID = 'a1b2c3d4-0000-4000-8000-000000000000';
const TS = 1_767_225_600_000;
const device = createCodec({ receiver: 'device', newId: () => ID, now: () => TS });
const hub = createCodec({ receiver: 'hub' });
const device2 = createCodec({ receiver: 'device' });

/**
 * A valid protocol id (`Id`: 1 to 256 characters), as a request id from a validated frame is;
 * often near the limit, where what is derived from it (`<id>:progress:<n>`) would not fit.
 */
const id = fc
  .oneof(fc.string({ minLength: 1, maxLength: 40, unit: 'binary' }), fc.string({ minLength: 230, maxLength: 256 }))
  .filter((s) => s.length >= 1 && s.length <= 256);
const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
/**
 * A host's free-form data. Without an own `__proto__` key: zod's record turns one into the
 * prototype (so the validating path drops it), where the built path sends it as JSON would.
 */
const data = fc.dictionary(
  fc.string().filter((key) => key !== '__proto__'),
  fc.jsonValue({ maxDepth: 4 }),
  { maxKeys: 6 },
);
const stamp = fc.option(fc.record({ id: fc.uuid(), ts: count }), { nil: undefined });

const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
const common = {
  request_id: id,
  inputs: optional(data),
  execution_context: optional(fc.record({ workspace_id: optional(id), metadata: optional(data) }, { requiredKeys: [] })),
  timeout_ms: optional(fc.integer({ min: 1, max: 86_400_000 })),
  // What a host may add that the protocol does not know: the validating encode drops it.
  note: optional(fc.string()),
};
const step = fc.oneof(
  fc.record({ job_type: fc.constant('tool' as const), tool_name: id, inputs: optional(data) }, { requiredKeys: ['job_type', 'tool_name'] }),
  fc.record({ job_type: fc.constant('playbook' as const), playbook_code: id }),
);
/** Any request a host may hand to `hub.execute`, with keys the protocol does not know. */
const request = fc.oneof(
  fc.record({ ...common, job_type: fc.constant('tool' as const), tool_name: id }),
  fc.record({ ...common, job_type: fc.constant('playbook' as const), playbook_code: id }),
  fc.record({ ...common, job_type: fc.constant('chain' as const), steps: fc.array(step, { minLength: 1, maxLength: 4 }) }),
);

/** What must hold for every built message the device sends. */
function holds(message: Built): void {
  holdsAt(message, device, hub);
}

const hubSide = createCodec({ receiver: 'hub', newId: () => ID, now: () => TS });

/** The message passes its schema, `sender` encodes it as its validating `encode` would, and `receiver` decodes it. */
function holdsAt(message: Built, sender: Codec, receiver: Codec): void {
  const schema = messageSchemas[message.type] as z.ZodType;
  const stamped = { v: 1, id: ID, ts: TS, ...message };
  const parsed = schema.safeParse(stamped);
  expect(parsed.success, JSON.stringify(parsed.error?.issues[0])).toBe(true);
  const built = sender.encodeBuilt(message);
  const checked = sender.encode(message);
  if (!built.ok || !checked.ok) throw new Error(`did not encode: ${JSON.stringify([built, checked])}`);
  // The same JSON value: the schema pass would have added or dropped nothing.
  expect(JSON.parse(built.value.frame)).toEqual(JSON.parse(checked.value.frame));
  expect(built.value.bytes).toBe(Buffer.byteLength(built.value.frame));
  const decoded = receiver.decode(built.value.frame);
  expect(decoded.ok, decoded.ok ? '' : decoded.error.message).toBe(true);
}

const kind: fc.Arbitrary<EventKind> = fc.oneof(
  fc.constantFrom<EventKind>(
    { type: 'accepted' },
    { type: 'started' },
    { type: 'completed' },
    { type: 'failed' },
    { type: 'cancelled' },
    { type: 'timed_out' },
  ),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((n): EventKind => ({ type: 'progress', n })),
);

describe('built messages (src/protocol/built-messages.ts) against their schemas', () => {
  it('execution_event: any request id, event, data and stamp', () => {
    fc.assert(
      fc.property(id, kind, data, stamp, (requestId, k, d, s) => holds(executionEventMessage(requestId, k, d, s))),
      { numRuns: RUNS },
    );
  });

  it('usage_report: any request and device id, and totals a usage report can carry', () => {
    const totals = fc.record({
      durationMs: fc.double({ min: 0, max: 1e12, noNaN: true }),
      inputTokens: count,
      outputTokens: count,
      costEstimate: fc.double({ min: 0, max: 1e12, noNaN: true }),
    });
    fc.assert(
      fc.property(id, id, totals, stamp, (requestId, deviceId, t, s) => holds(usageReportMessage(requestId, deviceId, t, s))),
      { numRuns: RUNS },
    );
  });

  it('heartbeat_ack: any heartbeat seq and server time', () => {
    fc.assert(
      fc.property(count, count, (seq, serverTime) => holdsAt(heartbeatAckMessage(seq, serverTime), hubSide, device2)),
      { numRuns: RUNS },
    );
  });

  it('ack, nack and capacity', () => {
    fc.assert(
      fc.property(count, (seq) => {
        holds(ackMessage(seq));
        holds(nackMessage(seq));
      }),
      { numRuns: RUNS },
    );
    const capacity = fc.record({
      running: count,
      queued: count,
      max_concurrency: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      max_queue: count,
      saturated: fc.boolean(),
      active: fc.option(fc.array(id, { maxLength: 20 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(capacity, (c) => holds(capacityMessage(c))),
      { numRuns: RUNS },
    );
  });

  it('derives ids within 256 characters from the longest request ids, the same every time and distinct per request', () => {
    const long = 'r'.repeat(256);
    const other = `${'r'.repeat(255)}s`;
    const end = executionEventMessage(long, { type: 'completed' }, {});
    expect(end.event_id.length).toBeLessThanOrEqual(256);
    expect(executionEventMessage(long, { type: 'failed' }, {}).event_id).toBe(end.event_id);
    expect(executionEventMessage(other, { type: 'completed' }, {}).event_id).not.toBe(end.event_id);
    expect(executionEventMessage(long, { type: 'progress', n: 3 }, {}).event_id).toMatch(/^[0-9a-f]{64}:progress:3$/);
    const report = usageReportMessage(long, 'd', { durationMs: 0, inputTokens: 0, outputTokens: 0, costEstimate: 0 });
    expect(report.report_id).toMatch(/^usage:[0-9a-f]{64}$/);
    // A request id that fits keeps the ids a v1 hub has always seen.
    expect(executionEventMessage('req_1', { type: 'progress', n: 2 }, {}).event_id).toBe('req_1:progress:2');
    expect(usageReportMessage('req_1', 'd', { durationMs: 0, inputTokens: 0, outputTokens: 0, costEstimate: 0 }).report_id).toBe(
      'usage:req_1',
    );
  });

  it('still refuses what a host put inside a built message and the schema cannot vouch for: a BigInt, a cycle, too deep, too large', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) deep = { deep };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ result: 1n }, 'schema_violation'],
      [{ result: cyclic }, 'schema_violation'],
      [{ result: deep }, 'schema_violation'],
      [{ result: 'x'.repeat(device.maxFrameBytes) }, 'too_large'],
    ];
    for (const [d, code] of cases) {
      const encoded = device.encodeBuilt(executionEventMessage('req_1', { type: 'completed' }, d));
      expect(encoded.ok ? 'ok' : encoded.error.code).toBe(code);
    }
  });

  it('execution_request: any request a host may hand in, as the codec validated it, and the id and time it fixed', () => {
    const seq = fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined });
    const boundary = createCodec({ receiver: 'hub' });
    fc.assert(
      fc.property(request, stamp, seq, (r, s, n) => {
        const input = { type: 'execution_request', ...r, ...s } as Outbound<'execution_request'>;
        const validated = boundary.encode(input);
        if (!validated.ok) throw validated.error;
        const built = executionRequestMessage(validated.value.message as MessageOf<'execution_request'>, input);
        // The queue numbers it (src/hub/delivery/device-queue.ts) before it goes out; the input as given, numbered, is what `encode` sent.
        holdsAt(n === undefined ? built : ({ ...built, seq: n } as typeof built), hubSide, device2);
        const direct = hubSide.encode(n === undefined ? input : { ...input, seq: n });
        const viaBuilt = hubSide.encodeBuilt(n === undefined ? built : ({ ...built, seq: n } as typeof built));
        if (!direct.ok || !viaBuilt.ok) throw new Error('did not encode');
        expect(JSON.parse(viaBuilt.value.frame)).toEqual(JSON.parse(direct.value.frame));
        // The host's fixed id and time are kept; otherwise each send stamps its own.
        expect(JSON.parse(viaBuilt.value.frame)).toMatchObject({ id: s?.id ?? ID, ts: s?.ts ?? TS });
      }),
      { numRuns: RUNS },
    );
  });

  it('execution_request prepared once: each send is byte for byte what encodeBuilt makes of it numbered', () => {
    const boundary = createCodec({ receiver: 'hub', newId: () => ID, now: () => TS });
    fc.assert(
      fc.property(request, stamp, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (r, s, n) => {
        const input = { type: 'execution_request', ...r, ...s } as Outbound<'execution_request'>;
        const validated = boundary.validate(input);
        if (!validated.ok) throw validated.error;
        const valid = validated.value as MessageOf<'execution_request'>;
        const built = executionRequestMessage(valid, input);
        const prepared = boundary.prepare(built, valid);
        if (!prepared?.ok) throw new Error(`not prepared: ${JSON.stringify(prepared)}`);
        const sent = boundary.encodePrepared(prepared.value, n);
        const numbered = boundary.encodeBuilt({ ...built, seq: n } as typeof built);
        if (!sent.ok || !numbered.ok) throw new Error('did not encode');
        expect(sent.value.frame).toBe(numbered.value.frame);
        expect(sent.value.bytes).toBe(Buffer.byteLength(sent.value.frame));
        expect(sent.value.id).toBe(s?.id ?? ID);
      }),
      { numRuns: RUNS },
    );
  });

  it('execution_request prepared once: refused exactly where the validating encode refuses it, for the same reason', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) deep = { deep };
    // Small frames, so that generated requests fall on both sides of the limit.
    const limit = fc.integer({ min: 200, max: 2_000 });
    const inputs = fc.oneof(
      { arbitrary: data, weight: 4 },
      { arbitrary: fc.constantFrom<Record<string, unknown>>({ big: 1n }, { cyclic }, { deep }, { nested: { big: [2n] } }), weight: 1 },
    );
    const outcome = (result: CodecResult<unknown> | undefined) =>
      result === undefined
        ? 'not prepared'
        : result.ok
          ? 'ok'
          : { code: result.error.code, message: result.error.message, ...result.error.detail };
    fc.assert(
      fc.property(request, stamp, inputs, limit, (r, s, i, maxFrameBytes) => {
        const codec = createCodec({ receiver: 'hub', newId: () => ID, now: () => TS, maxFrameBytes });
        const input = { type: 'execution_request', ...r, inputs: i, ...s } as Outbound<'execution_request'>;
        const encoded = codec.encode(input);
        const validated = codec.validate(input);
        if (!validated.ok) {
          expect(outcome(validated)).toEqual(outcome(encoded));
          return;
        }
        const valid = validated.value as MessageOf<'execution_request'>;
        expect(outcome(codec.prepare(executionRequestMessage(valid, input), valid))).toEqual(outcome(encoded));
      }),
      { numRuns: RUNS },
    );
  });

  it('encodeBuilt(message, seq): byte for byte, and refused for the same reason, what encodeBuilt makes of the message with seq added', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200; i++) deep = { deep };
    // Small frames, so that generated messages fall on both sides of the limit.
    const limit = fc.integer({ min: 200, max: 2_000 });
    const hostData = fc.oneof(
      { arbitrary: data, weight: 4 },
      { arbitrary: fc.constantFrom<Record<string, unknown>>({ big: 1n }, { cyclic }, { deep }, { nested: { big: [2n] } }), weight: 1 },
    );
    const totals = fc.record({ durationMs: count, inputTokens: count, outputTokens: count, costEstimate: count });
    const message = fc.oneof(
      fc.tuple(id, kind, hostData, stamp).map(([r, k, d, s]) => executionEventMessage(r, k, d, s) as Built),
      fc.tuple(id, id, totals, stamp).map(([r, d, t, s]) => usageReportMessage(r, d, t, s) as Built),
    );
    // Keys of its own where the seq and the envelope go, first or last among its fields: each must stay where a spread keeps it.
    const own = fc.option(
      fc.tuple(fc.constantFrom<Record<string, unknown>>({ seq: 5 }, { v: 1 }, { seq: undefined }, { id: 'own' }, { ts: 7 }), fc.boolean()),
      { nil: undefined },
    );
    const outcome = (result: CodecResult<{ frame: string; bytes: number }>) =>
      result.ok
        ? { frame: result.value.frame, bytes: result.value.bytes }
        : { code: result.error.code, message: result.error.message, ...result.error.detail };
    fc.assert(
      fc.property(message, own, count, limit, (m, o, n, maxFrameBytes) => {
        const codec = createCodec({ receiver: 'device', newId: () => ID, now: () => TS, maxFrameBytes });
        const laidOut = (o === undefined ? m : o[1] ? { ...o[0], ...m } : { ...m, ...o[0] }) as Built;
        expect(outcome(codec.encodeBuilt(laidOut, n))).toEqual(outcome(codec.encodeBuilt({ ...laidOut, seq: n } as Built)));
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves a message it cannot lay out as encodeBuilt would to encodeBuilt: its own seq or v, a null id or ts', () => {
    const base = { type: 'execution_request', request_id: 'req_1', job_type: 'tool', tool_name: 'echo', inputs: {}, execution_context: {} };
    for (const own of [{ seq: 3 }, { v: 1 }, { id: null }, { ts: null }]) {
      expect(hubSide.prepare({ ...base, ...own } as unknown as Built<'execution_request'>, { id: ID, ts: TS })).toBeUndefined();
    }
    expect(hubSide.prepare(base as Built<'execution_request'>, { id: ID, ts: TS })?.ok).toBe(true);
  });
});
