import { randomUuid } from '../util/random-uuid.ts';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import { type Codec, FrameError } from '../protocol/codec.ts';
import type { Outbound } from '../protocol/messages.ts';
import type { Built } from '../protocol/built-messages.ts';
import { StorageError } from '../adapters/storage.ts';
import { firstAfter, type LogRecord, type RecordLog } from '../storage/record-log.ts';
import { type StorageHealth, untilStored } from '../storage/storage-health.ts';
import { SeqSlots } from '../util/seq-slots.ts';
import { withFields } from '../util/with-fields.ts';

/** Message types that go through the outbox: what the hub must get exactly once. */
export type ReliableType = 'execution_event' | 'usage_report' | 'messaging_reply';

/** One stored message, with the envelope id and time it will carry on every resend. */
export interface OutboxEntry {
  message: Outbound<ReliableType> & { id: string; ts: number };
}

/** The outbox's bounds, with their defaults (`createConnector`'s `outbox`). */
export const OutboxPolicy = z.object({
  /**
   * Soft bound on stored entries. Past it `progress` events are not stored (they are counted and
   * reported), and the executor refuses new requests as `saturated`; lifecycle events and usage
   * reports of accepted work are always stored, so the bound can be passed by what is in flight.
   */
  maxEntries: z.number().int().positive().default(10_000),
  /** Entries older than this are dropped (and reported) instead of sent. */
  ttlMs: z
    .number()
    .int()
    .positive()
    .default(24 * 3_600_000),
  /** Entries sent and not acknowledged at any time; the rest go out as acks come in. */
  window: z.number().int().positive().max(100_000).default(512),
});
export type OutboxPolicy = z.output<typeof OutboxPolicy>;

export const defaultOutboxPolicy: OutboxPolicy = OutboxPolicy.parse({});

/** What the outbox tells the host about: entries it did not deliver, and why. */
export type OutboxLoss =
  | { kind: 'progress_dropped'; requestId: string; count: number }
  | { kind: 'unsendable'; seq: number; messageType: ReliableType }
  | { kind: 'expired'; count: number; usageReports: number; oldestAt: number };

export interface OutboxOptions {
  log: RecordLog<OutboxEntry>;
  codec: Codec;
  now: () => number;
  logger: Logger;
  policy?: Partial<OutboxPolicy>;
  onLoss?: (loss: OutboxLoss) => void;
  /**
   * With it, a store that fails does not lose what the outbox was given: appends and acks wait
   * until storage recovers and are written then, in order (`progress` events are dropped and
   * reported instead). Without it, they reject with the {@link StorageError}.
   */
  health?: StorageHealth;
}

/**
 * A message's frame, checked and kept until the hub acknowledges it. A class, not an object
 * literal: V8 may allocate a literal's objects straight in the old generation once many of them
 * outlive a scavenge (as these do with hundreds of frames in flight), and a frame's holder born
 * old keeps its string alive through the scavenge after the `ack`; `new` always allocates young.
 */
class CheckedFrame {
  constructor(
    readonly frame: string,
    readonly bytes: number,
  ) {}
}

/** An {@link OutboxEntry} as an append stores it: a class for the reason {@link CheckedFrame} is one. */
class StampedEntry implements OutboxEntry {
  constructor(public message: OutboxEntry['message']) {}
}

/**
 * The durable outbox: reliable messages get a per-device sequence number and are on disk before
 * they are sent; they leave the store when the hub acknowledges them (`ack{seq}`), and the
 * unacknowledged tail is sent again, in order, on every new connection. The hub drops what it
 * has seen by message id, so the effect is exactly once.
 *
 * @example
 * const outbox = new Outbox({ log: await openRecordLog(path), codec, now, logger });
 * await outbox.append({ type: 'usage_report', request_id, executor_device_id, metrics }); // durable
 * outbox.attach((frame) => socket.send(frame)); // on connect: resends the tail
 * outbox.ack(seq);                                 // on the hub's `ack`
 */
export class Outbox {
  readonly #log: RecordLog<OutboxEntry>;
  readonly #codec: Codec;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #policy: OutboxPolicy;
  readonly #onLoss: (loss: OutboxLoss) => void;
  readonly #health: StorageHealth | undefined;
  /** Appends waiting for storage to recover: in memory only until then. */
  #waiting = 0;
  /** Sends a frame on the current connection; undefined while there is none. */
  #send: ((frame: string) => boolean) | undefined;
  /** The largest frame the hub accepts, from its last `connect_ack`. */
  #peerLimit: number | undefined;
  /** Highest sequence number sent on the current connection. */
  #sentUpTo = 0;
  #acking: Promise<void> = Promise.resolve();
  /** Entries up to here expired; their removal from the log may still be in flight. */
  #expiredUpTo = 0;
  /**
   * The frames of entries appended by this process, encoded and checked once on append and kept
   * until acknowledged, so a send does not validate and serialise them again. Entries read back
   * after a restart have none: they are encoded (and checked) when first sent.
   */
  readonly #frames = new SeqSlots<CheckedFrame>();
  #lastCheck: { message: Built<ReliableType>; seq: number; checked: CheckedFrame | FrameError } | undefined;
  /** The message of the latest append that got as far as its frame, and that frame ({@link takeFrame}). */
  #lastAppended: Outbound<ReliableType> | undefined;
  #lastFrame: string | undefined;

  constructor(options: OutboxOptions) {
    this.#log = options.log;
    this.#codec = options.codec;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#policy = { ...defaultOutboxPolicy, ...options.policy };
    this.#onLoss = options.onLoss ?? (() => {});
    this.#health = options.health;
  }

  /** Entries stored and not acknowledged. */
  get depth(): number {
    return this.#log.pending().length;
  }

  /** Messages given to {@link append} that wait for a failing store: not on disk yet. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Connected, with entries appended that have not gone out on this connection: the window (or
   * storage) holds them back, and an {@link ack} may send some. Appends still being stored count.
   */
  get unsent(): boolean {
    return this.#send !== undefined && Math.max(this.#sentUpTo, this.#expiredUpTo) < this.#log.lastSeq;
  }

  /** At or past `maxEntries`: progress is not stored, new work is refused. */
  get full(): boolean {
    return this.depth >= this.#policy.maxEntries;
  }

  /** Stored entries, oldest first (what a restarted executor reads to know its requests). */
  entries(): ReadonlyArray<LogRecord<OutboxEntry>> {
    return this.#log.pending();
  }

  /**
   * Stores a message and sends it if connected. Resolves once it is on disk; a `progress` event
   * refused because the outbox is full, or storage is failing, resolves `false`. While storage
   * fails (with `health`), it waits and is written once storage recovers, after every append
   * that was waiting before it.
   *
   * With `{ wait: false }` it never waits: a failing store rejects it at once (what refuses
   * work back to the hub must not hold up the messages behind it).
   *
   * @throws {FrameError} when the message does not encode (checked before it is stored).
   * @throws {StorageError} when it cannot be written (without `health`, or with `wait: false`).
   */
  append(message: Outbound<ReliableType>, options: { wait?: boolean } = {}): Promise<boolean> {
    return this.#append(message, false, options);
  }

  /**
   * {@link append} for a message made by a typed constructor (src/protocol/built-messages.ts):
   * encoded without the schema pass its constructor stands in for (`Codec.encodeBuilt`).
   *
   * @example
   * await outbox.appendBuilt(usageReportMessage(requestId, deviceId, totals));
   */
  appendBuilt(message: Built<ReliableType>, options: { wait?: boolean } = {}): Promise<boolean> {
    return this.#append(message, true, options);
  }

  async #append(message: Outbound<ReliableType>, built: boolean, { wait = true }: { wait?: boolean }): Promise<boolean> {
    const health = wait ? this.#health : undefined;
    if (!wait && this.#health?.failing) throw this.#health.refusal(message.type);
    if ((this.full || health?.failing) && message.type === 'execution_event' && message.event_type === 'progress') {
      this.#onLoss({ kind: 'progress_dropped', requestId: message.request_id, count: 1 });
      return false;
    }
    const stamped = withFields(message, { id: message.id ?? randomUuid(), ts: message.ts ?? this.#now() }) as OutboxEntry['message'];
    for (;;) {
      // Behind the appends already waiting for storage: one log keeps its order.
      if (health?.failing) {
        this.#waiting += 1;
        await health.recovered().finally(() => (this.#waiting -= 1));
      }
      // Check the frame now: a message that cannot be sent must not wait in the store forever.
      // Its sequence number is the log's next one: nothing runs between this check and the append.
      const checked = this.#checkedBefore(message, this.#log.lastSeq + 1) ?? this.#check(stamped, this.#log.lastSeq + 1, built);
      if (checked instanceof FrameError) throw checked;
      const stored = this.#log.append(new StampedEntry(stamped));
      const seq = this.#log.lastSeq;
      this.#frames.set(seq, checked);
      this.#lastAppended = message;
      this.#lastFrame = checked.frame;
      try {
        await stored;
        break;
      } catch (error) {
        // The number goes back to the log and may be another entry's by now.
        if (this.#frames.get(seq) === checked) this.#frames.delete(seq);
        if (error instanceof StorageError) this.#health?.failed(error);
        if (!health || !(error instanceof StorageError)) throw error;
      }
    }
    this.#pump();
    return true;
  }

  /**
   * The frame made for `message` by the append just called, if that append got as far (one
   * waiting for a failing store has not; undefined then). Asked once: the outbox lets go of it.
   * What the executor keeps of an execution's end instead of its messages
   * (src/execution/seen-requests.ts); the frame's `seq` is this append's.
   *
   * @example
   * const stored = outbox.appendBuilt(terminal);
   * const frame = outbox.takeFrame(terminal); // '{"type":"execution_event",…,"seq":12,"v":1}'
   */
  takeFrame(message: Outbound<ReliableType>): string | undefined {
    const frame = message === this.#lastAppended ? this.#lastFrame : undefined;
    this.#lastAppended = undefined;
    this.#lastFrame = undefined;
    return frame;
  }

  /** Why a built message could not be stored and sent (too large, not serialisable), or undefined when it can. */
  problemWith(message: Built<ReliableType>): FrameError | undefined {
    const seq = this.#log.lastSeq + 1;
    const checked = this.#check(message, seq, true);
    // The executor asks about a terminal event and then appends it: keep the answer for that.
    if (message.id !== undefined && message.ts !== undefined) this.#lastCheck = { message, seq, checked };
    return checked instanceof FrameError ? checked : undefined;
  }

  /** The frame {@link problemWith} made for this very message, if it would still carry `seq`. */
  #checkedBefore(message: Outbound<ReliableType>, seq: number): CheckedFrame | FrameError | undefined {
    const last = this.#lastCheck;
    this.#lastCheck = undefined;
    return last?.message === message && last.seq === seq ? last.checked : undefined;
  }

  /**
   * The message's frame as sequence number `seq`, or why it cannot be sent. A `built` one skips
   * the schema pass; anything else (a host's message, an entry read back from disk) has it.
   */
  #check(message: Outbound<ReliableType>, seq: number, built = false): CheckedFrame | FrameError {
    // A built one is numbered as the codec stamps it, in one copy of the message.
    const encoded = built ? this.#codec.encodeBuilt(message as Built<ReliableType>, seq) : this.#codec.encode(withFields(message, { seq }));
    if (!encoded.ok) return encoded.error;
    const { frame, bytes } = encoded.value;
    if (this.#peerLimit !== undefined && bytes > this.#peerLimit) {
      return new FrameError('too_large', `${message.type} of ${bytes} bytes exceeds the hub's limit of ${this.#peerLimit}`, {
        bytes,
        type: message.type,
      });
    }
    return new CheckedFrame(frame, bytes);
  }

  /** A connection is up: everything not acknowledged goes out again, in order. */
  attach(send: (frame: string) => boolean, peerMaxFrameBytes?: number): void {
    this.#send = send;
    this.#peerLimit = peerMaxFrameBytes;
    this.#sentUpTo = 0;
    this.#expire();
    this.#pump();
  }

  /** The connection is gone; what was sent and not acknowledged waits for the next one. */
  detach(): void {
    this.#send = undefined;
  }

  /** The hub's `ack{seq}`: everything up to `seq` is stored at the hub. */
  ack(seq: number): Promise<void> {
    this.#frames.deleteUpTo(seq);
    this.#acking = this.#acking
      .then(() => untilStored(this.#health, () => this.#log.ack(seq)))
      .then(() => this.#pump())
      .catch((error: unknown) => this.#logger.error({ err: error }, 'cannot record an ack; entries will be resent'));
    return this.#acking;
  }

  /** Sends what the window allows and has not gone out on this connection. */
  #pump(): void {
    const send = this.#send;
    if (!send) return;
    // The window counts from the oldest entry still to deliver. The log is in sequence order, so
    // both ends are found by bisection: no walk over what is already out, no copy of the log.
    const pending = this.#log.pending();
    const oldest = pending[firstAfter(pending, this.#expiredUpTo)];
    if (!oldest) return;
    const limit = oldest.seq + this.#policy.window - 1;
    // Dropped entries are settled after the walk: a settle takes its record out of `pending` (the
    // memory log's at once), which would skip the record after it here.
    let dropped: number[] | undefined;
    for (let i = firstAfter(pending, Math.max(this.#sentUpTo, this.#expiredUpTo)); i < pending.length; i++) {
      const record = pending[i]!;
      if (record.seq > limit) break;
      let checked = this.#frames.get(record.seq) ?? this.#check(record.value.message, record.seq);
      // A frame checked on append may be over a limit learnt since: check the limit again.
      if (!(checked instanceof FrameError) && this.#peerLimit !== undefined && checked.bytes > this.#peerLimit)
        checked = this.#check(record.value.message, record.seq);
      // A hub that now accepts less (or a stored message this version no longer sends) would
      // close the session on this frame at every resend and block everything behind it: drop it, and say so.
      if (checked instanceof FrameError) {
        this.#logger.error(
          { seq: record.seq, type: record.value.message.type, bytes: checked.detail.bytes ?? 0 },
          'stored message can no longer be sent; dropped',
        );
        this.#onLoss({ kind: 'unsendable', seq: record.seq, messageType: record.value.message.type });
        this.#sentUpTo = record.seq;
        this.#frames.delete(record.seq);
        (dropped ??= []).push(record.seq);
        continue;
      }
      if (!send(checked.frame)) break;
      this.#sentUpTo = record.seq;
    }
    if (dropped) for (const seq of dropped) this.#settleDropped(seq);
  }

  #settleDropped(seq: number): void {
    void untilStored(this.#health, () => this.#log.settle(seq)).catch((error: unknown) =>
      this.#logger.error({ err: error }, 'cannot drop an unsendable entry'),
    );
  }

  /** Drops entries past their TTL. They are the oldest (appends are in time order): a prefix. */
  #expire(): void {
    const cutoff = this.#now() - this.#policy.ttlMs;
    const expired = [];
    for (const record of this.#log.pending()) {
      if (record.at > cutoff) break;
      if (record.seq <= this.#expiredUpTo) continue;
      expired.push(record);
    }
    const last = expired.at(-1);
    if (!last) return;
    const usageReports = expired.filter((r) => r.value.message.type === 'usage_report').length;
    this.#logger.warn({ count: expired.length, usage_reports: usageReports }, 'outbox entries expired undelivered');
    this.#onLoss({ kind: 'expired', count: expired.length, usageReports, oldestAt: expired[0]!.at });
    this.#expiredUpTo = last.seq;
    void this.ack(last.seq);
  }
}
