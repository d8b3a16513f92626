import type { z } from 'zod';
import { type AsIsCheck, compileAsIsCheck } from './as-is-check.ts';
import { nestedDeeperThan } from './depth.ts';
import { compileOrderedCopy, NOT_SURE, type OrderedCopy } from './ordered-copy.ts';
import { Envelope, MAX_FRAME_BYTES, MAX_JSON_DEPTH, PROTOCOL_VERSION, SUPPORTED_VERSIONS } from './envelope.ts';
import { direction, type Message, type MessageType, messageSchemas, type Outbound } from './messages.ts';
import { randomUUID } from 'node:crypto';
import { withFields } from '../util/with-fields.ts';
import type { Built, PreparedMessage, Stamp } from './built-messages.ts';

/** Why a frame was refused. Each maps to an `error` frame code of the same name. */
export type FrameErrorCode = 'not_json' | 'invalid_envelope' | 'unknown_type' | 'schema_violation' | 'too_large' | 'unsupported_version';

/**
 * A frame that could not be decoded or encoded. Carries what a log line or an `error` frame
 * needs, and never the frame's content (it may hold a token).
 */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: FrameErrorCode,
    message: string,
    readonly detail: {
      /** Where in the frame the first schema violation is, e.g. `['metrics', 'duration_ms']`. */
      path?: readonly PropertyKey[];
      /** The frame's message id, when the envelope was readable. */
      messageId?: string;
      /** The frame's type, when the envelope was readable. */
      type?: string;
      /** Size of the frame in bytes, for `too_large`. */
      bytes?: number;
    } = {},
  ) {
    super(message);
  }
}

export type CodecResult<T> = { ok: true; value: T } | { ok: false; error: FrameError };

export interface CodecOptions {
  /** Frames larger than this (UTF-8 bytes) are refused. Default {@link MAX_FRAME_BYTES}. */
  maxFrameBytes?: number;
  /**
   * Message id generator for outbound frames. Default `randomUUID`: a connector's ids stay UUIDs,
   * which a session replay pairs with the recording's (src/replay/compare.ts). The hub passes
   * `newMessageId` (src/protocol/message-ids.ts: a per-process random prefix and a counter),
   * cheaper per frame.
   */
  newId?: () => string;
  /** Clock for the `ts` of outbound frames. Default `Date.now`. */
  now?: () => number;
  /**
   * Which side decodes. Inbound frames of a type the other side never sends (a hub receiving
   * `connect_ack`, a device receiving `heartbeat`) are refused as `schema_violation`.
   * Default: no direction check.
   */
  receiver?: 'hub' | 'device';
}

/** Encodes and decodes v1 frames. Create one per connection side; it holds no per-frame state. */
export interface Codec {
  /** Parses and validates one frame: a typed message, or a typed error. Never throws. */
  decode(data: string | Buffer): CodecResult<Message>;
  /** Stamps the envelope (`v`, `id`, `ts`), validates and serialises. Never throws. `bytes` is the frame's UTF-8 size. */
  encode(message: Outbound): CodecResult<{ frame: string; message: Message; bytes: number }>;
  /**
   * {@link encode} for a message made by a typed constructor (src/protocol/built-messages.ts):
   * stamps and serialises it without the schema pass, which its constructor stands in for. What
   * a constructor cannot vouch for, the data a host put inside it, is still checked: that it
   * serialises, its depth and the frame's size. Never throws.
   *
   * With `seq`, the frame of `{ ...message, seq }`, numbered and stamped in one copy of the message.
   */
  encodeBuilt(message: Built, seq?: number): CodecResult<{ frame: string; message: Message; bytes: number }>;
  /**
   * What {@link encode} checks, without serialising: stamps the envelope (`v`, `id`, `ts`) and
   * validates. Gives the stamped message as the schema gives it back (defaults in, unknown keys
   * out, keys in the schema's order). For a message that is then built
   * (src/protocol/built-messages.ts) and {@link prepare}d. Plain data that the schema takes as it
   * is skips zod's parse (src/protocol/ordered-copy.ts). Never throws.
   */
  validate(message: Outbound): CodecResult<Message>;
  /**
   * Serialises a built message without `seq` once, for {@link encodePrepared} to send it as often
   * as needed: the checks {@link encodeBuilt} makes (that it serialises, its depth) and the size of
   * its frame as stamped with `stamp` (the same bytes as `encode` would have made of it), so a
   * message refused by `encode` is refused here. Undefined for a message whose frames cannot be
   * laid out that way (a `seq` or `v` of its own, an `id` or `ts` its sender set to null): it is
   * sent with {@link encodeBuilt}. Never throws.
   */
  prepare(message: Built, stamp: Stamp): CodecResult<PreparedMessage> | undefined;
  /**
   * The frame of a prepared message numbered `seq`, stamped afresh (`v`, a new message id and the
   * time, unless its sender fixed them): byte for byte what {@link encodeBuilt} makes of the
   * message with that `seq`, without serialising it again. Never throws.
   *
   * @example
   * const prepared = codec.prepare(executionRequestMessage(valid), { id: valid.id, ts: valid.ts });
   * if (prepared.ok) socket.send(codec.encodePrepared(prepared.value, 7).value.frame);
   */
  encodePrepared(prepared: PreparedMessage, seq: number): CodecResult<{ frame: string; id: string; bytes: number }>;
  readonly maxFrameBytes: number;
}

type AnySchema = z.ZodType<Message>;

/**
 * Creates a codec over a table of message schemas (default: every v1 message). Each schema must
 * extend the envelope (`defineMessage` does).
 *
 * @example
 * const codec = createCodec();
 * const decoded = codec.decode('{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":1}');
 * if (decoded.ok) console.log(decoded.value.type); // 'heartbeat'
 * else console.error(decoded.error.code);          // e.g. 'schema_violation'
 */
export function createCodec(options: CodecOptions = {}, schemas: Readonly<Record<string, z.ZodType>> = messageSchemas): Codec {
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const newId = options.newId ?? randomUUID;
  const now = options.now ?? Date.now;
  const table = new Map(Object.entries(schemas) as [string, AnySchema][]);
  const asIs = new Map<string, AsIsCheck | undefined>();
  for (const [type, schema] of table) asIs.set(type, asIsCheckOf(schema));
  const ordered = new Map<string, OrderedCopy | undefined>();
  for (const [type, schema] of table) ordered.set(type, orderedCopyOf(schema));
  const accepted = options.receiver === 'hub' ? 'to_hub' : 'to_device';
  const wrongWay = (type: string) =>
    options.receiver !== undefined &&
    (direction as Record<string, string | undefined>)[type] !== undefined &&
    direction[type as MessageType] !== 'both' &&
    direction[type as MessageType] !== accepted;
  /**
   * Per type with an as-is check, what a decoded frame of it needs, found with one lookup: the
   * check, and whether this side refuses the type for its direction.
   */
  const inbound = new Map<string, { check: AsIsCheck; wrongWay: boolean }>();
  for (const [type, check] of asIs) if (check) inbound.set(type, { check, wrongWay: wrongWay(type) });

  /** zod's answer for `raw`, or the first thing wrong with it in the documented order. */
  function validate(raw: unknown): CodecResult<Message> {
    // The version first: a future version may change the envelope itself, and its sender must
    // hear "unsupported version" (fatal) rather than "invalid envelope" (retried).
    const v = (raw as { v?: unknown } | null)?.v;
    if (Number.isInteger(v) && !SUPPORTED_VERSIONS.includes(v as number)) {
      const id = (raw as { id?: unknown }).id;
      const type = (raw as { type?: unknown }).type;
      return fail('unsupported_version', `protocol version ${v} is not supported (this side speaks ${SUPPORTED_VERSIONS.join(', ')})`, {
        ...(typeof id === 'string' && { messageId: id }),
        ...(typeof type === 'string' && { type }),
      });
    }
    // The common case in one pass: every message schema extends the envelope, so a frame its
    // type's schema accepts has a valid envelope too. Anything else takes the path below, which
    // finds the first thing wrong in the documented order.
    const claimed = (raw as { type?: unknown } | null)?.type;
    const known = typeof claimed === 'string' ? table.get(claimed) : undefined;
    if (known) {
      if (!nestedDeeperThan(raw, MAX_JSON_DEPTH)) {
        const result = known.safeParse(raw);
        if (result.success) return { ok: true, value: result.data };
      }
    }
    const envelope = Envelope.safeParse(raw);
    if (!envelope.success) {
      const issue = envelope.error.issues[0];
      return fail('invalid_envelope', `invalid envelope: ${describe(issue)}`, { path: issue?.path });
    }
    const { id, type } = envelope.data;
    const schema = table.get(type);
    if (!schema) return fail('unknown_type', `unknown message type '${type}'`, { messageId: id, type });
    if (nestedDeeperThan(raw, MAX_JSON_DEPTH)) {
      return fail('schema_violation', `${type}: nested deeper than ${MAX_JSON_DEPTH} levels`, { messageId: id, type });
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail('schema_violation', `${type}: ${describe(issue)}`, { path: issue?.path, messageId: id, type });
    }
    return { ok: true, value: parsed.data };
  }

  return {
    maxFrameBytes,
    decode(data) {
      // Size first: never parse a frame we would refuse anyway.
      const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      if (bytes > maxFrameBytes) {
        return fail('too_large', `frame of ${bytes} bytes exceeds the limit of ${maxFrameBytes}`, { bytes });
      }
      let raw: unknown;
      try {
        // `toString()` without arguments is UTF-8 and skips Node's lookup of the encoding by name.
        raw = JSON.parse(typeof data === 'string' ? data : data.toString());
      } catch {
        return fail('not_json', 'frame is not valid JSON');
      }
      // The common case first: this version, a type whose check takes the frame as it is, so
      // zod would accept it unchanged (src/protocol/as-is-check.ts). The check walks the depth too.
      const claimed = (raw as { type?: unknown } | null)?.type;
      const kind = typeof claimed === 'string' ? inbound.get(claimed) : undefined;
      if (kind !== undefined && (raw as { v?: unknown }).v === PROTOCOL_VERSION && kind.check(raw)) {
        return kind.wrongWay ? wrongDirection(raw as Message) : { ok: true, value: raw as Message };
      }
      const result = validate(raw);
      if (result.ok && wrongWay(result.value.type)) return wrongDirection(result.value);
      return result;
    },
    encode(message) {
      const stamped = withFields(message, { v: PROTOCOL_VERSION, id: message.id ?? newId(), ts: message.ts ?? now() });
      const checked = validate(stamped);
      return checked.ok ? serialise(checked.value) : checked;
    },
    encodeBuilt(message, seq) {
      const id = message.id ?? newId();
      const ts = message.ts ?? now();
      // `seq` first: the keys fall where `{ ...{ ...message, seq }, v, id, ts }` puts them.
      const stamped = (
        seq === undefined ? withFields(message, { v: PROTOCOL_VERSION, id, ts }) : withFields(message, { seq, v: PROTOCOL_VERSION, id, ts })
      ) as Message;
      if (nestedDeeperThan(stamped, MAX_JSON_DEPTH)) {
        return fail('schema_violation', `${message.type}: nested deeper than ${MAX_JSON_DEPTH} levels`, {
          messageId: stamped.id,
          type: message.type,
        });
      }
      return serialise(stamped);
    },
    validate(message) {
      const stamped = withFields(message, { v: PROTOCOL_VERSION, id: message.id ?? newId(), ts: message.ts ?? now() });
      // A host's message laid out as zod would give it back (src/protocol/ordered-copy.ts): when
      // the as-is check takes that copy, it is zod's answer, without zod's parse. Anything else,
      // and every refusal, is zod's to decide and word.
      const copy = ordered.get(message.type)?.(stamped);
      if (copy !== undefined && copy !== NOT_SURE && asIs.get(message.type)?.(copy)) return { ok: true, value: copy as Message };
      return validate(stamped);
    },
    prepare(message, stamp) {
      const own = message as { seq?: unknown; v?: unknown; id?: unknown; ts?: unknown };
      // Each send puts these at the end of the frame (envelopeTail), or stamps over them in place.
      if (own.seq !== undefined || own.v !== undefined || own.id === null || own.ts === null) return undefined;
      if (nestedDeeperThan(message, MAX_JSON_DEPTH)) {
        return fail('schema_violation', `${message.type}: nested deeper than ${MAX_JSON_DEPTH} levels`, {
          messageId: message.id ?? stamp.id,
          type: message.type,
        });
      }
      let json: string;
      try {
        json = JSON.stringify(message);
      } catch {
        return fail('schema_violation', `${message.type}: not serialisable as JSON`, {
          messageId: message.id ?? stamp.id,
          type: message.type,
        });
      }
      const head = json.slice(0, -1);
      const prepared: PreparedMessage = {
        type: message.type,
        head,
        headBytes: Buffer.byteLength(head),
        id: message.id,
        fixedTs: message.ts !== undefined,
      };
      // The size of the frame stamped with `stamp`: the same fields as encode's frame, so the same bytes.
      const bytes = prepared.headBytes + Buffer.byteLength(envelopeTail(prepared, undefined, stamp.id, stamp.ts));
      if (bytes > maxFrameBytes) {
        return fail('too_large', `${message.type} of ${bytes} bytes exceeds the limit of ${maxFrameBytes}`, {
          bytes,
          messageId: message.id ?? stamp.id,
          type: message.type,
        });
      }
      return { ok: true, value: prepared };
    },
    encodePrepared(prepared, seq) {
      const id = prepared.id ?? newId();
      const tail = envelopeTail(prepared, seq, id, prepared.fixedTs ? 0 : now());
      const bytes = prepared.headBytes + Buffer.byteLength(tail);
      if (bytes > maxFrameBytes) {
        return fail('too_large', `${prepared.type} of ${bytes} bytes exceeds the limit of ${maxFrameBytes}`, {
          bytes,
          messageId: id,
          type: prepared.type,
        });
      }
      return { ok: true, value: { frame: prepared.head + tail, id, bytes } };
    },
  };

  function wrongDirection({ type, id }: Message): { ok: false; error: FrameError } {
    return fail('schema_violation', `wrong direction: '${type}' is never sent to a ${options.receiver}`, { messageId: id, type });
  }

  /** JSON, within the frame limit. */
  function serialise(message: Message): CodecResult<{ frame: string; message: Message; bytes: number }> {
    let frame: string;
    try {
      frame = JSON.stringify(message);
    } catch {
      // A BigInt or a cycle inside a free-form field (`inputs`, `data`, …): the schema lets
      // `unknown` through, JSON does not.
      return fail('schema_violation', `${message.type}: not serialisable as JSON`, { messageId: message.id, type: message.type });
    }
    const bytes = Buffer.byteLength(frame);
    if (bytes > maxFrameBytes) {
      return fail('too_large', `${message.type} of ${bytes} bytes exceeds the limit of ${maxFrameBytes}`, {
        bytes,
        messageId: message.id,
        type: message.type,
      });
    }
    return { ok: true, value: { frame, message, bytes } };
  }
}

/**
 * What follows a prepared message's own fields in its frame, as `withFields` lays the keys out
 * when `seq`, then the envelope, are added to it: `seq` (when numbered), `v`, and `id` and `ts`
 * unless the message has its own (whose place is then among its fields, value unchanged).
 */
function envelopeTail(prepared: PreparedMessage, seq: number | undefined, id: string, ts: number): string {
  let tail = seq === undefined ? `,"v":${PROTOCOL_VERSION}` : `,"seq":${jsonNumber(seq)},"v":${PROTOCOL_VERSION}`;
  if (prepared.id === undefined) tail += `,"id":${JSON.stringify(id)}`;
  if (!prepared.fixedTs) tail += `,"ts":${jsonNumber(ts)}`;
  return `${tail}}`;
}

/** A number as `JSON.stringify` writes it. */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

const copies = new WeakMap<z.ZodType, OrderedCopy | null>();

/** Compiled once per schema, whatever number of codecs use it. */
function orderedCopyOf(schema: z.ZodType): OrderedCopy | undefined {
  let copy = copies.get(schema);
  if (copy === undefined) {
    copy = compileOrderedCopy(schema) ?? null;
    copies.set(schema, copy);
  }
  return copy ?? undefined;
}

/** Compiled once per schema (bound to the protocol's depth limit), whatever number of codecs use it. */
const compiled = new WeakMap<z.ZodType, AsIsCheck | null>();

function asIsCheckOf(schema: z.ZodType): AsIsCheck | undefined {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = compileAsIsCheck(schema, MAX_JSON_DEPTH) ?? null;
    compiled.set(schema, check);
  }
  return check ?? undefined;
}

function fail(code: FrameErrorCode, message: string, detail?: FrameError['detail']): { ok: false; error: FrameError } {
  return { ok: false, error: new FrameError(code, message, detail) };
}

function describe(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'invalid';
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
  return `${where}: ${issue.message}`;
}

/** True when `message` is of type `type`, narrowing it. */
export function isMessage<T extends MessageType>(message: Message, type: T): message is Extract<Message, { type: T }> {
  return message.type === type;
}
