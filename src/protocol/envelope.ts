import { z } from 'zod';

/** The wire protocol version this build speaks. Bumped only on a breaking change (docs/protocol.md). */
export const PROTOCOL_VERSION = 1;

/** Versions this build accepts on inbound frames. */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/**
 * Largest frame, in bytes of UTF-8 JSON, that either side sends or accepts: 1 MiB. The hub
 * announces its own limit in `connect_ack.max_frame_bytes`.
 */
export const MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Deepest nesting of objects and arrays a frame may have. JSON.parse takes far deeper input,
 * but copying or re-serialising it (structuredClone, JSON.stringify) overflows the stack at a
 * few thousand levels: a receiver refuses it at the door instead of failing later.
 */
export const MAX_JSON_DEPTH = 128;

/** A message id: unique per sender, at most 128 characters. */
export const MessageId = z.string().min(1).max(128);

/**
 * Fields every frame carries. Receivers check `v` before anything else, and ignore fields they
 * do not know (additive changes do not bump the version).
 */
export const Envelope = z.object({
  /** Protocol version of this frame. */
  v: z.number().int().positive(),
  /** Sender-unique message id; replies and errors refer to it. */
  id: MessageId,
  /** Message type: selects the schema for the rest of the frame. */
  type: z.string().min(1).max(64),
  /** When the sender created the frame, milliseconds since the Unix epoch. */
  ts: z.number().int().nonnegative(),
});
export type Envelope = z.infer<typeof Envelope>;

/**
 * Builds a message schema: the envelope plus a literal `type` and the message's own fields.
 *
 * @example
 * const Ping = defineMessage('ping', { seq: z.number().int() });
 */
export function defineMessage<T extends string, S extends z.ZodRawShape>(type: T, shape: S) {
  return Envelope.extend({ type: z.literal(type), ...shape });
}
