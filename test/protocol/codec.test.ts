import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCodec, type CodecResult, FrameError, type FrameErrorCode, isMessage } from '../../src/protocol/codec.ts';
import { MAX_FRAME_BYTES } from '../../src/protocol/envelope.ts';
import { executionRequestExamples, messageExamples } from '../../src/protocol/examples.ts';
import { direction, ErrorCode, type Message, type MessageType, messageSchemas, type Outbound } from '../../src/protocol/messages.ts';

const NOW = 1_767_225_600_123;
let counter = 0;
const codec = createCodec({ newId: () => `msg_${++counter}`, now: () => NOW });

/** Every frame error code, listed so the compiler complains when one is added. */
const frameErrorCodes = {
  not_json: true,
  invalid_envelope: true,
  unknown_type: true,
  schema_violation: true,
  too_large: true,
  unsupported_version: true,
} satisfies Record<FrameErrorCode, true>;

function frame(fields: Record<string, unknown>): string {
  return JSON.stringify({ v: 1, id: 'msg_in_1', ts: NOW, ...fields });
}

function expectFrameError<T>(result: CodecResult<T>, code: FrameErrorCode): FrameError {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.error).toBeInstanceOf(FrameError);
  expect(result.error.code).toBe(code);
  return result.error;
}

function expectOk<T>(result: CodecResult<T>): T {
  if (!result.ok) throw new Error(`expected ok, got ${result.error.code}: ${result.error.message}`);
  return result.value;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('examples', () => {
  it('has one example for every message type, of that type', () => {
    expect(Object.keys(messageExamples).sort()).toEqual(Object.keys(messageSchemas).sort());
    for (const [type, example] of Object.entries(messageExamples)) expect(example.type).toBe(type);
  });

  it('has one execution_request example per job type', () => {
    expect(Object.entries(executionRequestExamples).map(([key, example]) => [key, example.job_type])).toEqual([
      ['playbook', 'playbook'],
      ['tool', 'tool'],
      ['chain', 'chain'],
    ]);
  });
});

describe('round trip: encode then decode', () => {
  const cases: Array<[string, Outbound]> = [
    ...Object.entries(messageExamples).map(([type, example]): [string, Outbound] => [type, example]),
    ...Object.entries(executionRequestExamples).map(([job, example]): [string, Outbound] => [`execution_request (${job})`, example]),
  ];

  it.each(cases)('%s', (_name, example) => {
    const encoded = expectOk(codec.encode(example));
    const onWire = JSON.parse(encoded.frame) as Record<string, unknown>;
    expect(onWire).toMatchObject({ v: 1, type: example.type, ts: NOW });
    expect(onWire.id).toMatch(/^msg_\d+$/);

    const decoded = expectOk(codec.decode(encoded.frame));
    expect(decoded).toEqual(encoded.message);
    expect(decoded).toMatchObject(example);
  });

  it('keeps an id and ts the sender chose', () => {
    const encoded = expectOk(codec.encode({ ...messageExamples.heartbeat, id: 'hb-7', ts: 5 }));
    expect(encoded.message).toMatchObject({ id: 'hb-7', ts: 5 });
    expect(expectOk(codec.decode(encoded.frame))).toMatchObject({ id: 'hb-7', ts: 5 });
  });

  it('fills schema defaults on decode (inputs, execution_context, data)', () => {
    const decoded = expectOk(
      codec.decode(frame({ type: 'execution_request', request_id: 'req_1', job_type: 'tool', tool_name: 'web_search' })),
    );
    expect(decoded).toMatchObject({ inputs: {}, execution_context: {} });
  });

  it('accepts a Buffer, decoding it as UTF-8', () => {
    const text = 'こんにちは、明日の予定は？ 📅';
    const encoded = expectOk(codec.encode({ ...messageExamples.messaging_event, message: { text } }));
    const decoded = expectOk(codec.decode(Buffer.from(encoded.frame, 'utf8')));
    expect(isMessage(decoded, 'messaging_event') && decoded.message.text).toBe(text);
  });

  it('ignores fields it does not know (additive changes keep the version)', () => {
    const decoded = expectOk(codec.decode(frame({ type: 'heartbeat', seq: 3, added_in_v1_1: true })));
    expect(decoded).toMatchObject({ type: 'heartbeat', seq: 3 });
  });
});

describe('decode: refused frames', () => {
  it('not_json: text that is not JSON, with no id or type in the detail', () => {
    const error = expectFrameError(codec.decode('{"v":1,"id":'), 'not_json');
    expect(error.detail.messageId).toBeUndefined();
    expect(error.detail.type).toBeUndefined();
    expectFrameError(codec.decode(Buffer.from([0x7b, 0xff, 0xfe])), 'not_json');
  });

  it.each([
    ['a missing id', { v: 1, type: 'heartbeat', ts: 0, seq: 1 }, ['id']],
    ['an empty id', { v: 1, id: '', type: 'heartbeat', ts: 0, seq: 1 }, ['id']],
    ['a non-integer v', { v: 1.5, id: 'a', type: 'heartbeat', ts: 0, seq: 1 }, ['v']],
    ['a string v', { v: '1', id: 'a', type: 'heartbeat', ts: 0, seq: 1 }, ['v']],
    ['a negative ts', { v: 1, id: 'a', type: 'heartbeat', ts: -1, seq: 1 }, ['ts']],
    ['a missing type', { v: 1, id: 'a', ts: 0 }, ['type']],
  ])('invalid_envelope: %s', (_name, raw, path) => {
    const error = expectFrameError(codec.decode(JSON.stringify(raw)), 'invalid_envelope');
    expect(error.detail.path).toEqual(path);
  });

  it.each(['null', '42', '"heartbeat"', '[]', 'true'])('invalid_envelope: a JSON value that is not an object (%s)', (text) => {
    expectFrameError(codec.decode(text), 'invalid_envelope');
  });

  it.each(['telemetry_batch', 'toString', '__proto__', 'constructor'])('unknown_type: %s, naming the id and type', (type) => {
    const error = expectFrameError(codec.decode(frame({ type })), 'unknown_type');
    expect(error.detail).toMatchObject({ messageId: 'msg_in_1', type });
  });

  it('schema_violation: points at the bad field, naming the id and type', () => {
    const bad = { ...messageExamples.usage_report, metrics: { duration_ms: 'fast' } };
    const error = expectFrameError(codec.decode(frame(bad)), 'schema_violation');
    expect(error.detail).toEqual({ path: ['metrics', 'duration_ms'], messageId: 'msg_in_1', type: 'usage_report' });
    expect(error.message).toContain('metrics.duration_ms');
  });

  it('schema_violation: an enum value outside the enum', () => {
    const bad = { ...messageExamples.messaging_reply, result: { status: 'done' } };
    expect(expectFrameError(codec.decode(frame(bad)), 'schema_violation').detail.path).toEqual(['result', 'status']);
  });

  it('schema_violation: never quotes the frame content (a token)', () => {
    const bad = { ...messageExamples.connect, device_id: 42 };
    const error = expectFrameError(codec.decode(frame(bad)), 'schema_violation');
    expect(error.message).not.toContain(messageExamples.connect.token);
    expect(JSON.stringify(error.detail)).not.toContain(messageExamples.connect.token);
  });

  it('unsupported_version: a version this side does not speak, naming the id and type', () => {
    const error = expectFrameError(codec.decode(frame({ ...messageExamples.heartbeat, v: 2 })), 'unsupported_version');
    expect(error.detail).toMatchObject({ messageId: 'msg_in_1', type: 'heartbeat' });
  });

  it('unsupported_version is checked before the type: a v2-only type is not unknown_type', () => {
    expectFrameError(codec.decode(frame({ v: 2, type: 'resume' })), 'unsupported_version');
  });

  describe('too_large', () => {
    const small = createCodec({ maxFrameBytes: 64 });

    it('is detected before parsing: an oversized non-JSON string is too_large, and JSON.parse is not called', () => {
      const parse = vi.spyOn(JSON, 'parse');
      const error = expectFrameError(small.decode('x'.repeat(65)), 'too_large');
      expect(error.detail.bytes).toBe(65);
      expect(parse).not.toHaveBeenCalled();
    });

    it('counts UTF-8 bytes, not characters', () => {
      const text = 'é'.repeat(40); // 40 characters, 80 bytes
      expect(expectFrameError(small.decode(text), 'too_large').detail.bytes).toBe(80);
      expect(expectFrameError(small.decode(Buffer.from(text)), 'too_large').detail.bytes).toBe(80);
    });

    it('accepts a frame of exactly the limit and refuses one byte more', () => {
      const exact = frame({ type: 'heartbeat', seq: 1 });
      const bytes = Buffer.byteLength(exact);
      expectOk(createCodec({ maxFrameBytes: bytes }).decode(exact));
      expectFrameError(createCodec({ maxFrameBytes: bytes - 1 }).decode(exact), 'too_large');
    });

    it(`defaults to ${MAX_FRAME_BYTES} bytes`, () => {
      expect(codec.maxFrameBytes).toBe(MAX_FRAME_BYTES);
      expectFrameError(codec.decode(' '.repeat(MAX_FRAME_BYTES + 1)), 'too_large');
    });
  });
});

describe('execution_request discriminates on job_type', () => {
  const common = { type: 'execution_request', request_id: 'req_1' };

  it.each([
    ['a tool job without tool_name', { ...common, job_type: 'tool' }, ['tool_name']],
    ['a playbook job without playbook_code', { ...common, job_type: 'playbook', tool_name: 'web_search' }, ['playbook_code']],
    ['a chain without steps', { ...common, job_type: 'chain' }, ['steps']],
    ['a chain with no step', { ...common, job_type: 'chain', steps: [] }, ['steps']],
    ['a chain step without tool_name', { ...common, job_type: 'chain', steps: [{ job_type: 'tool' }] }, ['steps', 0, 'tool_name']],
    ['an unknown job_type', { ...common, job_type: 'script', tool_name: 'x' }, ['job_type']],
    ['no job_type', { ...common, tool_name: 'x' }, ['job_type']],
  ])('%s is a schema_violation at its field', (_name, raw, path) => {
    expect(expectFrameError(codec.decode(frame(raw)), 'schema_violation').detail.path).toEqual(path);
  });

  it('narrows to the branch of the job type', () => {
    const decoded = expectOk(codec.decode(expectOk(codec.encode(executionRequestExamples.chain)).frame));
    if (!isMessage(decoded, 'execution_request') || decoded.job_type !== 'chain') throw new Error('expected a chain');
    expect(decoded.steps.map((step) => step.job_type)).toEqual(['tool', 'playbook']);
  });
});

describe('encode: refused messages', () => {
  it('refuses a message that breaks its schema with a typed error, pointing at the field', () => {
    const error = expectFrameError(codec.encode({ type: 'heartbeat', seq: -1 }), 'schema_violation');
    expect(error.detail).toMatchObject({ path: ['seq'], type: 'heartbeat' });
    expect(error.detail.messageId).toMatch(/^msg_/);
  });

  it('refuses a tool job without tool_name', () => {
    const { tool_name: _dropped, ...noTool } = executionRequestExamples.tool;
    const error = expectFrameError(codec.encode(noTool as unknown as Outbound), 'schema_violation');
    expect(error.detail.path).toEqual(['tool_name']);
  });

  it('refuses a type it does not know', () => {
    expectFrameError(codec.encode({ type: 'telemetry_batch' } as unknown as Outbound), 'unknown_type');
  });

  it('refuses an id longer than 128 characters', () => {
    const error = expectFrameError(codec.encode({ ...messageExamples.heartbeat, id: 'x'.repeat(129) }), 'invalid_envelope');
    expect(error.detail.path).toEqual(['id']);
  });

  it('refuses a frame over the limit, naming the id and type', () => {
    const small = createCodec({ maxFrameBytes: 1024, newId: () => 'big-1' });
    const reply: Outbound<'messaging_reply'> = {
      ...messageExamples.messaging_reply,
      result: { status: 'completed', text: 'a'.repeat(2000) },
    };
    const error = expectFrameError(small.encode(reply), 'too_large');
    expect(error.detail).toMatchObject({ messageId: 'big-1', type: 'messaging_reply' });
    expect(error.detail.bytes).toBeGreaterThan(2000);
  });

  it.each([
    ['a BigInt', { n: 10n }],
    [
      'a cycle',
      (() => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        return cyclic;
      })(),
    ],
  ])('refuses a free-form field holding %s instead of throwing', (_name, data) => {
    const message: Outbound<'execution_event'> = { ...messageExamples.execution_event, data };
    const error = expectFrameError(codec.encode(message), 'schema_violation');
    expect(error.detail.type).toBe('execution_event');
  });
});

describe('properties', () => {
  const codes = new Set(Object.keys(frameErrorCodes));
  const types = Object.keys(messageSchemas) as MessageType[];

  function isOkOrFrameError(result: CodecResult<unknown>): boolean {
    return result.ok || (result.error instanceof FrameError && codes.has(result.error.code));
  }

  it('every frame error code is also an error frame code', () => {
    for (const code of codes) expect(ErrorCode.options).toContain(code);
  });

  it('decode never throws on any JSON value', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => isOkOrFrameError(codec.decode(JSON.stringify(value) ?? 'null'))));
  });

  it('decode never throws on any string or byte sequence', () => {
    // Any UTF-16 code unit, lone surrogates included (`unit: 'binary'` costs ~0.6 s to set up).
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(fc.property(fc.string({ unit: codeUnit }), (text) => isOkOrFrameError(codec.decode(text))));
    fc.assert(fc.property(fc.string(), (text) => isOkOrFrameError(codec.decode(`{"v":1,"id":"a","type":${text}`))));
    fc.assert(fc.property(fc.uint8Array(), (bytes) => isOkOrFrameError(codec.decode(Buffer.from(bytes)))));
  });

  it('decode never throws on envelopes of known types with arbitrary fields', () => {
    const envelopeLike = fc
      .record({
        v: fc.oneof(fc.constant(1), fc.integer(), fc.double()),
        id: fc.string(),
        type: fc.constantFrom(...types),
        ts: fc.oneof(fc.nat(), fc.integer()),
      })
      .chain((envelope) => fc.dictionary(fc.string(), fc.jsonValue()).map((extra) => ({ ...extra, ...envelope })));
    fc.assert(fc.property(envelopeLike, (value) => isOkOrFrameError(codec.decode(JSON.stringify(value)))));
  });

  it('encode never throws, and whatever it accepts decodes back to the same message', () => {
    const outbound = fc
      .tuple(fc.constantFrom(...types), fc.dictionary(fc.string(), fc.jsonValue()), fc.constantFrom(...Object.values(messageExamples)))
      .map(([type, extra, example]) => ({ ...example, ...extra, type }) as unknown as Outbound);
    fc.assert(
      fc.property(outbound, (message) => {
        const encoded = codec.encode(message);
        if (!encoded.ok) return isOkOrFrameError(encoded);
        const decoded = codec.decode(encoded.value.frame);
        return decoded.ok && JSON.stringify(decoded.value) === encoded.value.frame;
      }),
    );
  });
});

// Compile-time checks: an Outbound of each execution_request branch knows its own fields.
const _tool: Outbound<'execution_request'> = { type: 'execution_request', request_id: 'r', job_type: 'tool', tool_name: 't' };
// @ts-expect-error a tool job needs tool_name
const _noTool: Outbound<'execution_request'> = { type: 'execution_request', request_id: 'r', job_type: 'tool' };
const _message: Message | undefined = undefined;
void [_tool, _noTool, _message];

describe('direction check', () => {
  const frameOf = (type: keyof typeof messageExamples) => {
    const encoded = createCodec().encode(messageExamples[type]);
    if (!encoded.ok) throw encoded.error;
    return encoded.value.frame;
  };

  it.each(Object.entries(direction))('%s (%s) is accepted only by its receiver', (type, way) => {
    const frame = frameOf(type as keyof typeof messageExamples);
    const hub = createCodec({ receiver: 'hub' }).decode(frame);
    const device = createCodec({ receiver: 'device' }).decode(frame);
    expect(hub.ok).toBe(way !== 'to_device');
    expect(device.ok).toBe(way !== 'to_hub');
    const refused = [hub, device].find((r) => !r.ok);
    if (refused && !refused.ok) {
      expect(refused.error.code).toBe('schema_violation');
      expect(refused.error.message).toContain('wrong direction');
      expect(refused.error.detail.type).toBe(type);
    }
  });

  it('checks nothing without a receiver', () => {
    for (const type of Object.keys(direction)) expect(createCodec().decode(frameOf(type as keyof typeof messageExamples)).ok).toBe(true);
  });
});

describe('version before envelope', () => {
  it('reports an unsupported version even when the rest of the envelope changed', () => {
    const decoded = createCodec().decode(JSON.stringify({ v: 2, msg_id: 'x', kind: 'heartbeat_ack' }));
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.error.code).toBe('unsupported_version');
  });

  it('still names the message of an unsupported version when it can', () => {
    const decoded = createCodec().decode(JSON.stringify({ v: 3, id: 'm-1', type: 'heartbeat', ts: 0, seq: 1 }));
    expect(decoded.ok || decoded.error.detail).toEqual({ messageId: 'm-1', type: 'heartbeat' });
  });
});
