import fc from 'fast-check';
import { MAX_JSON_DEPTH } from '../../src/protocol/envelope.ts';
import { messageExamples } from '../../src/protocol/examples.ts';
import { direction, type ErrorCode, type MessageType, messageSchemas } from '../../src/protocol/messages.ts';

/*
 * Generated hostile frames, each with the outcome docs/protocol.md promises for it. The outcome
 * comes from how the frame was built (its category), never from running the codec on it: a
 * receiver that answers with another code than its category's fails the fuzz test.
 */

/** Which side receives the frames. */
export type Receiver = 'hub' | 'device';

export type Outcome =
  /** An `error` frame of this code (and `ref_id`, when the envelope was readable). */
  | { kind: 'refused'; code: ErrorCode; refId?: string }
  /** Accepted and answered: the hub's `heartbeat_ack { seq }`, the device's `capability_reload_result { reload_id }`. */
  | { kind: 'probe'; key: string | number; id: string }
  /** Accepted, and nothing is answered. */
  | { kind: 'silent'; id: string }
  /** Over the receiver's maximum frame size: the WebSocket layer closes with 1009. */
  | { kind: 'oversized' };

export interface HostileFrame {
  category: string;
  /** A string goes out as a text frame, a Buffer as a binary one (decoded the same way). */
  data: string | Buffer;
  outcome: Outcome;
}

type Fields = Record<string, unknown>;

/** A valid frame each receiver answers: it shows that everything sent before it was handled. */
const probes: Record<Receiver, { key: fc.Arbitrary<string | number>; fields(key: string | number): Fields }> = {
  hub: { key: fc.nat(), fields: (key) => ({ type: 'heartbeat', seq: key }) },
  device: { key: fc.stringMatching(/^[\w-]{1,40}$/), fields: (key) => ({ type: 'capability_reload', reload_id: key }) },
};

/** Fields of the probe frames; extra fields must not collide with them. */
const RESERVED = new Set(['v', 'id', 'type', 'ts', 'seq', 'reload_id', 'packs']);

/** JSON literals a non-negative (or positive) integer field refuses. */
const BAD_INTEGERS = [
  '-1',
  '0.5',
  '1e309',
  '-1e309',
  '9007199254740993',
  '1.5e-7',
  '"NaN"',
  '"Infinity"',
  '"1"',
  'null',
  'true',
  '[]',
  '{}',
];
/** JSON literals an id field (a string of 1 to 256 characters) refuses. */
const BAD_IDS = ['""', `"${'i'.repeat(257)}"`, '42', '1e309', 'null', 'true', '[]', '{}'];
/** Marks a required field: leaving it out is a violation too. */
const MISSING = 'MISSING';

/** Texts that are not JSON, some close to it. */
const NEAR_JSON = [
  '{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":NaN}',
  '{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":Infinity}',
  '{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":undefined}',
  "{'v':1,'id':'a','type':'heartbeat','ts':0,'seq':1}",
  '{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":1,}',
  '{"v":1,/* c */"id":"a","type":"heartbeat","ts":0,"seq":1}',
  '{"v":01,"id":"a","type":"heartbeat","ts":0,"seq":1}',
  '',
  ' ',
  '\u0000',
];

const id = fc.string({ minLength: 1, maxLength: 128 });
const isJson = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** JSON text of `fields`, with the value of `key` replaced by the raw JSON literal `literal` (`1e309`, …). */
function withRaw(fields: Fields, key: string, literal: string): string {
  const marker = 'RAW-9c1f4e';
  return JSON.stringify({ ...fields, [key]: marker }).replace(`"${marker}"`, literal);
}

/** `levels` objects or arrays nested, as JSON text. */
const nestedText = (levels: number, array: boolean) =>
  array ? `${'['.repeat(levels)}${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

/**
 * Frames of a known type, valid but for one field, with the JSON literals that field refuses;
 * per receiver, of the types it receives.
 */
const BAD_FIELDS: Record<Receiver, Array<[type: MessageType, fields: Fields, field: string, bad: string[]]>> = {
  hub: [
    ['heartbeat', {}, 'seq', [...BAD_INTEGERS, MISSING]],
    ['ack', {}, 'seq', [...BAD_INTEGERS, MISSING]],
    ['usage_report', { executor_device_id: 'd', metrics: { duration_ms: 1 } }, 'request_id', [...BAD_IDS, MISSING]],
    ['execution_event', { request_id: 'r', event_type: 'progress' }, 'event_id', [...BAD_IDS, MISSING]],
    ['execution_event', { event_id: 'e', request_id: 'r' }, 'event_type', ['"teleported"', '""', '42', 'null', MISSING]],
    ['capacity', { queued: 0, max_concurrency: 1, max_queue: 0, saturated: false }, 'running', [...BAD_INTEGERS, MISSING]],
    ['channel_join', {}, 'channel', ['"teleport"', '"task:"', '""', '42', 'null', MISSING]],
    ['auth_refresh', {}, 'token', ['""', `"${'t'.repeat(8193)}"`, '42', 'null', MISSING]],
  ],
  device: [
    ['heartbeat_ack', { server_time: 0 }, 'seq', [...BAD_INTEGERS, MISSING]],
    ['ack', {}, 'seq', [...BAD_INTEGERS, MISSING]],
    ['execution_cancel', {}, 'request_id', [...BAD_IDS, MISSING]],
    ['capability_reload', {}, 'reload_id', [...BAD_IDS, MISSING]],
    ['channel_message', { channel: 'extension', event: 'x' }, 'offset', ['0', ...BAD_INTEGERS]],
    ['settings_patch', { epoch: 'e', document: 'org', patch: {} }, 'version', ['0', ...BAD_INTEGERS, MISSING]],
    ['execution_request', { request_id: 'r', tool_name: 'x' }, 'job_type', ['"teleport"', '""', '42', 'null', MISSING]],
  ],
};

/** Generates hostile frames for `receiver`, whose maximum frame size is `maxFrameBytes`. */
export function hostileFrame(receiver: Receiver, maxFrameBytes: number): fc.Arbitrary<HostileFrame> {
  const probe = probes[receiver];
  const envelope = (type: string, fields: Fields, msgId: string): Fields => ({ v: 1, id: msgId, type, ts: 1_767_225_600_000, ...fields });
  const probeFrame = fc
    .tuple(probe.key, id)
    .map(([key, msgId]) => ({ key, fields: envelope(probe.fields(key).type as string, probe.fields(key), msgId) }));
  const refused = (code: ErrorCode, refId?: string): Outcome => ({ kind: 'refused', code, ...(refId !== undefined && { refId }) });
  const otherSide: MessageType[] = (Object.keys(direction) as MessageType[]).filter(
    (type) => direction[type] === (receiver === 'hub' ? 'to_device' : 'to_hub') || (receiver === 'hub' && type === 'connect'),
  );

  const categories: Array<{ weight: number; arbitrary: fc.Arbitrary<HostileFrame> }> = [
    {
      weight: 4,
      arbitrary: fc
        .oneof(
          fc.constantFrom(...NEAR_JSON),
          fc.string({ maxLength: 200 }).filter((text) => !isJson(text)),
          probeFrame.chain(({ fields }) => {
            const text = JSON.stringify(fields);
            return fc.integer({ min: 1, max: text.length - 1 }).map((cut) => text.slice(0, cut));
          }),
        )
        .map((data) => ({ category: 'not_json', data, outcome: refused('not_json') })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ minLength: 1, maxLength: 300 })
        .map((bytes) => Buffer.from(bytes))
        .filter((bytes) => !isJson(bytes.toString('utf8')))
        .map((data) => ({ category: 'random_bytes', data, outcome: refused('not_json') })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc
            .jsonValue({ maxDepth: 3 })
            .filter((value) => typeof value !== 'object' || value === null || Array.isArray(value))
            .map((value) => JSON.stringify(value)),
          fc.integer({ min: 1, max: 20_000 }).map((levels) => nestedText(levels, true)),
        )
        .map((data) => ({ category: 'not_an_object', data, outcome: refused('invalid_envelope') })),
    },
    {
      weight: 4,
      arbitrary: fc.tuple(probeFrame, fc.constantFrom('v', 'id', 'type', 'ts'), fc.nat()).map(([{ fields }, key, pick]) => {
        const bad: Record<string, string[]> = {
          v: ['"1"', '1.5', 'null', 'true', '1e309', '-1e309', MISSING],
          id: ['""', `"${'i'.repeat(129)}"`, '42', 'null', '{}', '[]', MISSING],
          type: ['""', `"${'t'.repeat(65)}"`, '42', 'null', MISSING],
          ts: ['-1', '1.5', '"0"', 'null', '1e309', MISSING],
        };
        const options = bad[key]!;
        const literal = options[pick % options.length]!;
        const data = literal === MISSING ? JSON.stringify({ ...fields, [key]: undefined }) : withRaw(fields, key, literal);
        return { category: `bad_envelope.${key}`, data, outcome: refused('invalid_envelope') };
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(probeFrame, fc.oneof(fc.integer({ min: -1_000_000, max: 0 }), fc.integer({ min: 2, max: 2 ** 31 })))
        .map(([{ fields }, v]) => ({
          category: 'unsupported_version',
          data: JSON.stringify({ ...fields, v }),
          outcome: refused('unsupported_version', fields.id as string),
        })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(
          fc.string({ minLength: 1, maxLength: 64 }).filter((type) => !Object.hasOwn(messageSchemas, type)),
          id,
        )
        .map(([type, msgId]) => ({
          category: 'unknown_type',
          data: JSON.stringify(envelope(type, { seq: 1 }, msgId)),
          outcome: refused('unknown_type', msgId),
        })),
    },
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...BAD_FIELDS[receiver]), fc.nat(), id).map(([[type, fields, field, bad], pick, msgId]) => {
        const literal = bad[pick % bad.length]!;
        const base = envelope(type, fields, msgId);
        const data = literal === MISSING ? JSON.stringify(base) : withRaw(base, field, literal);
        return { category: `bad_field.${type}.${field}`, data, outcome: refused('schema_violation', msgId) };
      }),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(fc.constantFrom(...otherSide), id).map(([type, msgId]) => ({
        category: `wrong_direction.${type}`,
        data: JSON.stringify(envelope(type, { ...messageExamples[type] }, msgId)),
        outcome: refused('schema_violation', msgId),
      })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(probeFrame, fc.integer({ min: MAX_JSON_DEPTH, max: 10_000 }), fc.boolean())
        .map(([{ fields }, levels, array]) => ({
          category: 'too_deep',
          data: withRaw(fields, 'deep', nestedText(levels, array)),
          outcome: refused('schema_violation', fields.id as string),
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(probeFrame, fc.integer({ min: 1, max: MAX_JSON_DEPTH - 1 }), fc.boolean())
        .map(([{ key, fields }, levels, array]) => ({
          category: 'nested_within_bound',
          data: withRaw(fields, 'nested', nestedText(levels, array)),
          outcome: { kind: 'probe', key, id: fields.id as string },
        })),
    },
    {
      weight: 5,
      arbitrary: fc
        .tuple(
          probeFrame,
          fc.dictionary(
            fc.string({ maxLength: 20 }).filter((key) => !RESERVED.has(key)),
            fc.jsonValue({ maxDepth: 4 }),
            { maxKeys: 6 },
          ),
        )
        .map(([{ key, fields }, extra]) => ({
          category: 'probe_with_extra_fields',
          data: JSON.stringify({ ...extra, ...fields }),
          outcome: { kind: 'probe', key, id: fields.id as string },
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(probeFrame, fc.integer({ min: 10_000, max: maxFrameBytes - 1_000 }), fc.boolean())
        .map(([{ key, fields }, size, array]) => ({
          category: array ? 'huge_array' : 'huge_string',
          data: JSON.stringify({ ...fields, huge: array ? new Array<number>(Math.floor(size / 2)).fill(7) : 'x'.repeat(size) }),
          outcome: { kind: 'probe', key, id: fields.id as string },
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(probeFrame, fc.integer({ min: 129, max: 100_000 })).map(([{ fields }, length]) => ({
        category: 'huge_id',
        data: JSON.stringify({ ...fields, id: 'i'.repeat(length) }),
        outcome: refused('invalid_envelope'),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(probeFrame, fc.integer({ min: 1, max: 64 * 1024 })).map(([{ fields }, over]) => ({
        category: 'oversized',
        data: JSON.stringify({ ...fields, huge: 'x'.repeat(maxFrameBytes + over) }),
        outcome: { kind: 'oversized' },
      })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          id,
          fc.oneof(
            fc.constant<Fields>({ type: 'ack', seq: 0 }),
            fc.string({ maxLength: 100 }).map((message): Fields => ({ type: 'error', code: 'internal', message })),
          ),
        )
        .map(([msgId, fields]) => ({
          category: `silent.${fields.type as string}`,
          data: JSON.stringify(envelope(fields.type as string, fields, msgId)),
          outcome: { kind: 'silent', id: msgId },
        })),
    },
    {
      weight: 6,
      arbitrary: probeFrame.map(({ key, fields }) => ({
        category: 'probe',
        data: JSON.stringify(fields),
        outcome: { kind: 'probe', key, id: fields.id as string },
      })),
    },
  ];

  return fc
    .tuple(fc.oneof(...categories), fc.boolean())
    .map(([frame, binary]) =>
      binary && typeof frame.data === 'string' ? { ...frame, category: `${frame.category}(binary)`, data: Buffer.from(frame.data) } : frame,
    );
}

/** A sequence of hostile frames, sometimes with a burst of probes (a flood) somewhere in it. */
export function hostileSequence(receiver: Receiver, maxFrameBytes: number, maxLength = 16): fc.Arbitrary<HostileFrame[]> {
  const probe = probes[receiver];
  const burst = fc.tuple(fc.integer({ min: 50, max: 300 }), probe.key).map(([count, first]) =>
    Array.from({ length: count }, (_, i): HostileFrame => {
      const key = typeof first === 'number' ? first + i : `${first}-${i}`;
      return {
        category: 'flood',
        data: JSON.stringify({ v: 1, id: `flood-${i}`, ts: 0, ...probe.fields(key) }),
        outcome: { kind: 'probe', key, id: `flood-${i}` },
      };
    }),
  );
  return fc
    .tuple(
      fc.array(hostileFrame(receiver, maxFrameBytes), { minLength: 1, maxLength, size: 'max' }),
      fc.option(fc.tuple(burst, fc.nat()), { freq: 4 }),
    )
    .map(([frames, flood]) => {
      if (!flood) return frames;
      const [probesInBurst, at] = flood;
      const copy = [...frames];
      copy.splice(at % (copy.length + 1), 0, ...probesInBurst);
      return copy;
    });
}
