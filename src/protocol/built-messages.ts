import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { ExecutionEventType, MessageOf, MessageType, Outbound } from './messages.ts';

/** Only this file's constructors make a {@link Built} message (a type-only brand: no cost at run time). */
declare const built: unique symbol;

/**
 * A message made by one of the typed constructors below: valid by construction, so the codec
 * serialises it without a schema pass (`Codec.encodeBuilt`). The constructors take only values
 * the runtime has already checked (a request id from a validated frame, a count it keeps, a
 * host's data checked where the host handed it in), and test/protocol/built-messages.test.ts
 * proves over generated inputs that each one's output passes its zod schema and encodes to the
 * same JSON value as through `Codec.encode`.
 */
export type Built<T extends MessageType = MessageType> = Outbound<T> & { readonly [built]: true };

/** The envelope a sender fixes before the codec stamps it: a message id and epoch milliseconds (an integer). */
export interface Stamp {
  id: string;
  ts: number;
}

/**
 * A built message serialised once for several sends (`Codec.prepare`, src/protocol/codec.ts): a queued request goes out
 * once per session until acknowledged, each time with its own `seq`, message id and time, and
 * is not serialised again for each.
 */
export interface PreparedMessage {
  readonly type: MessageType;
  /** The message's JSON (no `seq`, and the envelope only as far as its sender fixed it) without its closing brace. */
  readonly head: string;
  /** UTF-8 bytes of {@link head}. */
  readonly headBytes: number;
  /** The `id` its sender fixed, kept by every send; undefined: each send makes one. */
  readonly id: string | undefined;
  /** Whether its sender fixed `ts` (kept by every send); else each send stamps the time. */
  readonly fixedTs: boolean;
}

/** Longest id the protocol takes (`event_id`, `report_id`: 256 characters). */
const MAX_ID = 256;

/**
 * `<prefix><request id>:<suffix>`, or, when that would pass {@link MAX_ID}, the request id's
 * SHA-256 in its place: the same for every writer of the message (a resend, a recovery), and
 * unique per request. A request id of up to 256 characters is valid; what is derived from it
 * must be too.
 */
function derivedId(prefix: string, requestId: string, suffix: string): string {
  const id = `${prefix}${requestId}${suffix}`;
  if (id.length <= MAX_ID) return id;
  return `${prefix}${createHash('sha256').update(requestId).digest('hex')}${suffix}`;
}

/** Which event of an execution: `progress` events are numbered from 1. */
export type EventKind = { type: Exclude<z.infer<typeof ExecutionEventType>, 'progress'> } | { type: 'progress'; n: number };

/**
 * An `execution_event`. Its `event_id` is derived from the request (`<request id>:accepted`,
 * `:started`, `:progress:<n>`, `:end` for every terminal type): a rewritten event (after a
 * crash) has the same one. `data` must be a plain object; whatever it holds is the sender's
 * (the codec still checks it serialises, its depth and its size).
 *
 * @example
 * const accepted = executionEventMessage('req_1', { type: 'accepted' }, { queue_position: 1 });
 */
export function executionEventMessage(
  requestId: string,
  kind: EventKind,
  data: Record<string, unknown>,
  stamp?: Stamp,
): Built<'execution_event'> {
  const suffix = kind.type === 'progress' ? `progress:${kind.n}` : isTerminal(kind.type) ? 'end' : kind.type;
  const message: Outbound<'execution_event'> = {
    type: 'execution_event',
    event_id: derivedId('', requestId, `:${suffix}`),
    request_id: requestId,
    event_type: kind.type,
    data,
    ...stamp,
  };
  return message as Built<'execution_event'>;
}

/** What an execution cost, as the runtime totals it: non-negative integers of tokens, a non-negative cost. */
export interface UsageTotals {
  durationMs: number;
  inputTokens: number;
  outputTokens: number;
  costEstimate: number;
}

/**
 * The `usage_report` of one execution, with `report_id` `usage:<request id>` (one report per
 * execution, whoever writes it). Token usage and cost are left out while zero, as the schema's
 * optional fields allow.
 *
 * @example
 * const report = usageReportMessage('req_1', 'device-1', { durationMs: 12, inputTokens: 0, outputTokens: 0, costEstimate: 0 });
 */
export function usageReportMessage(requestId: string, deviceId: string, totals: UsageTotals, stamp?: Stamp): Built<'usage_report'> {
  const { durationMs, inputTokens, outputTokens, costEstimate } = totals;
  const message: Outbound<'usage_report'> = {
    type: 'usage_report',
    report_id: derivedId('usage:', requestId, ''),
    request_id: requestId,
    executor_device_id: deviceId,
    metrics: {
      duration_ms: durationMs,
      ...((inputTokens > 0 || outputTokens > 0) && { token_usage: { input: inputTokens, output: outputTokens } }),
      ...(costEstimate > 0 && { cost_estimate: costEstimate }),
    },
    ...stamp,
  };
  return message as Built<'usage_report'>;
}

/**
 * `ack{seq}`: every reliable message up to `seq` (a non-negative integer) is received.
 *
 * @example
 * link.send(ackMessage(42));
 */
export function ackMessage(seq: number): Built<'ack'> {
  return { type: 'ack', seq } as Built<'ack'>;
}

/**
 * `nack{seq}`: the reliable message `seq` could not be stored.
 *
 * @example
 * link.send(nackMessage(43));
 */
export function nackMessage(seq: number): Built<'nack'> {
  return { type: 'nack', seq, reason: 'storage_unavailable' } as Built<'nack'>;
}

/** The `capacity` message's body, as the executor counts it. */
export type CapacityFields = Omit<Outbound<'capacity'>, 'type' | 'id' | 'ts'>;

/**
 * `capacity`: how busy the device is.
 *
 * @example
 * link.send(capacityMessage(executor.capacity));
 */
export function capacityMessage(capacity: CapacityFields): Built<'capacity'> {
  return { type: 'capacity', ...capacity } as Built<'capacity'>;
}

/**
 * `heartbeat_ack`: the hub's answer to `heartbeat{seq}` (a non-negative integer) at `serverTime` (epoch ms, an integer).
 *
 * @example
 * session.sendBuilt(heartbeatAckMessage(message.seq, clock.now()));
 */
export function heartbeatAckMessage(seq: number, serverTime: number): Built<'heartbeat_ack'> {
  return { type: 'heartbeat_ack', seq, server_time: serverTime } as Built<'heartbeat_ack'>;
}

function isTerminal(type: z.infer<typeof ExecutionEventType>): boolean {
  return type === 'completed' || type === 'failed' || type === 'cancelled' || type === 'timed_out';
}

// ─── the hub's own frames ───────────────────────────────────────────────────────────────

/**
 * The `execution_request` the hub queues for a device, from the one `Codec.encode` validated
 * where a host handed it in (`hub.execute`): its fields as the schema gave them back (defaults
 * filled in, unknown keys dropped), the envelope left for each send to stamp afresh (a resend
 * gets a new message id), except the `id` and `ts` the host fixed, if any.
 *
 * @example
 * const encoded = codec.encode(request); // the boundary: refuses a bad request at the caller
 * if (encoded.ok) queue.enqueue(executionRequestMessage(encoded.value.message, request), now);
 */
export function executionRequestMessage(
  validated: MessageOf<'execution_request'>,
  fixed: { id?: string | undefined; ts?: number | undefined } = {},
): Built<'execution_request'> {
  const { v: _v, id: _id, ts: _ts, ...fields } = validated;
  const message: Outbound<'execution_request'> = fields;
  if (fixed.id !== undefined) message.id = fixed.id;
  if (fixed.ts !== undefined) message.ts = fixed.ts;
  return message as Built<'execution_request'>;
}
