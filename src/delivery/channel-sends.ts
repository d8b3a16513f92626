import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import type { LogRecord, RecordLog } from '../storage/record-log.ts';
import { type StorageHealth, untilStored } from '../storage/storage-health.ts';
import type { RuntimeClock } from '../util/clock.ts';

/** One reliable channel message, stored until the hub acknowledges it. `id` is its envelope id on every send. */
export interface ChannelSendEntry {
  channel: string;
  event: string;
  payload: Record<string, unknown>;
  id: string;
}

/** A stored reliable message as it goes out: its entry and sequence number. */
export interface ReliableSend extends ChannelSendEntry {
  seq: number;
}

/**
 * The bounds of reliable channel messages, with their defaults: `reliableChannels` in the
 * connector's configuration (src/connector/config.ts).
 */
export const ChannelSendsPolicy = z.object({
  /**
   * Messages stored and not acknowledged, over all channels. One more is refused at once
   * (reported `expired` with `reason: 'unacked_full'`). The hub remembers as many ids per
   * device to drop resends (src/hub/channels/channels.ts `dedupeWindow`).
   */
  maxUnacked: z.number().int().positive().default(1_000),
  /** A message not acknowledged by then is dropped and reported `expired` (`reason: 'ttl'`). */
  ttlMs: z.number().int().positive().default(3_600_000),
});
export type ChannelSendsPolicy = z.output<typeof ChannelSendsPolicy>;

export interface ChannelSendsOptions {
  /** Where the messages are kept: the connector store's `channels.log`, or a log in memory. */
  log: RecordLog<ChannelSendEntry>;
  now: () => number;
  logger: Logger;
  policy?: Partial<ChannelSendsPolicy>;
  /** With it, a store that fails does not lose a message: its write waits until storage recovers. */
  health?: StorageHealth;
  /**
   * With it, a timer on `clock` drops a message when its TTL passes and hands what it dropped to
   * `onExpired`, whether or not its channel is joined again. Without it, messages expire only
   * when {@link ChannelSends.expire} is called.
   */
  expiry?: { clock: Pick<RuntimeClock, 'setTimeout' | 'clearTimeout'>; onExpired(sends: ChannelSendEntry[]): void };
}

/**
 * The reliable channel messages a device sent and the hub has not acknowledged: each gets a
 * sequence number (per device, across channels) and is stored before it is sent; the hub's
 * `channel_ack{channel, seq}` settles that channel's messages up to `seq`; what is left is sent
 * again, with the same ids, every time its channel is joined, until acknowledged or past its
 * TTL. The hub drops a resend it already took by id, so each arrives once.
 *
 * Like the outbox (src/delivery/outbox.ts), and on the same record log: durable when the log is
 * a file (the connector's store), in memory otherwise. Acks here are per channel, so records
 * are settled one by one rather than acknowledged up to a sequence number.
 *
 * @example
 * const sends = new ChannelSends({ log: createMemoryRecordLog(), now: Date.now, logger });
 * const added = sends.add('task:t1', 'approved', { step: 3 }); // { id, stored } or undefined when full
 * const send = await added!.stored;                           // on disk: send it with its seq
 * sends.ack('task:t1', send.seq);                              // the hub's channel_ack
 * sends.close();                                               // no expiry timer left behind
 */
export class ChannelSends {
  readonly #log: RecordLog<ChannelSendEntry>;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #policy: ChannelSendsPolicy;
  readonly #health: StorageHealth | undefined;
  /** Messages stored or being stored, and not settled: what the cap counts. */
  #count: number;
  /** Records settled here whose removal from the log may still be in flight. */
  readonly #settled = new Set<number>();
  readonly #expiry: ChannelSendsOptions['expiry'];
  /** The expiry timer, and when the message it waits for passes its TTL. */
  #timer: { id: unknown; due: number } | undefined;
  #closed = false;

  constructor(options: ChannelSendsOptions) {
    this.#log = options.log;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#policy = ChannelSendsPolicy.parse(options.policy ?? {});
    this.#count = this.#log.pending().length;
    this.#health = options.health;
    this.#expiry = options.expiry;
    // Messages a store kept from an earlier run expire on time too.
    this.#arm();
  }

  /** Messages stored (or being stored) and not acknowledged. */
  get depth(): number {
    return this.#count;
  }

  /**
   * Stores a message. Returns its id at once and, in `stored`, the message with its sequence
   * number once it is on disk (rejects when it cannot be written); undefined when
   * `maxUnacked` messages already wait.
   */
  add(
    channel: string,
    event: string,
    payload: Record<string, unknown>,
    id: string = randomUUID(),
  ): { id: string; stored: Promise<ReliableSend> } | undefined {
    if (this.depth >= this.#policy.maxUnacked) return undefined;
    this.#count += 1;
    const stored = untilStored(this.#health, () => this.#log.append({ channel, event, payload, id })).then(
      (record) => {
        this.#arm();
        return { ...record.value, seq: record.seq };
      },
      (error: unknown) => {
        this.#count -= 1;
        throw error;
      },
    );
    return { id, stored };
  }

  /** A channel's messages still to deliver, oldest first (expire first: these are within the TTL). */
  pending(channel: string): ReliableSend[] {
    return this.#live()
      .filter((record) => record.value.channel === channel)
      .map((record) => ({ ...record.value, seq: record.seq }));
  }

  /** The hub's `channel_ack`: the channel's messages up to `seq` arrived. */
  ack(channel: string, seq: number): void {
    for (const record of this.#live()) {
      if (record.seq > seq) break;
      if (record.value.channel === channel) this.#settle(record.seq);
    }
    this.#arm();
  }

  /** Drops one message without delivery (sent once to a hub that does not acknowledge). */
  forget(seq: number): void {
    this.#settle(seq);
    this.#arm();
  }

  /** Drops and returns the messages past their TTL. */
  expire(): ChannelSendEntry[] {
    return this.#expireBy(this.#now());
  }

  /** Stops the expiry timer; messages left wait in the log (a store keeps them for the next run). */
  close(): void {
    this.#closed = true;
    if (this.#timer) this.#expiry?.clock.clearTimeout(this.#timer.id);
    this.#timer = undefined;
  }

  /** Drops and returns the messages whose TTL has passed at `now`. */
  #expireBy(now: number): ChannelSendEntry[] {
    const cutoff = now - this.#policy.ttlMs;
    const expired: ChannelSendEntry[] = [];
    for (const record of this.#live()) {
      if (record.at > cutoff) break;
      expired.push(record.value);
      this.#settle(record.seq);
    }
    if (expired.length > 0) this.#logger.warn({ count: expired.length }, 'reliable channel messages expired unacknowledged');
    this.#arm();
    return expired;
  }

  /** Points the expiry timer at the oldest message left (the log keeps them in the order stored). */
  #arm(): void {
    const expiry = this.#expiry;
    if (!expiry || this.#closed) return;
    const oldest = this.#live()[0];
    const due = oldest === undefined ? undefined : oldest.at + this.#policy.ttlMs;
    if (due === this.#timer?.due) return;
    if (this.#timer) expiry.clock.clearTimeout(this.#timer.id);
    this.#timer = undefined;
    if (due === undefined) return;
    const id = expiry.clock.setTimeout(
      () => {
        this.#timer = undefined;
        // Fired means due: a clock that reads a little early (a replay) must not re-arm for the rest.
        const expired = this.#expireBy(Math.max(this.#now(), due));
        if (expired.length > 0) expiry.onExpired(expired);
      },
      Math.max(0, due - this.#now()),
    );
    // A real timer must not keep the process alive: what it would drop waits in the log.
    (id as { unref?: () => void } | undefined)?.unref?.();
    this.#timer = { id, due };
  }

  #live(): Array<LogRecord<ChannelSendEntry>> {
    return this.#log.pending().filter((record) => !this.#settled.has(record.seq));
  }

  #settle(seq: number): void {
    if (this.#settled.has(seq)) return;
    this.#settled.add(seq);
    this.#count -= 1;
    untilStored(this.#health, () => this.#log.settle(seq))
      .catch((error: unknown) => {
        this.#count += 1;
        this.#logger.error({ err: error, seq }, 'cannot record a channel ack; the message will be sent again');
      })
      .finally(() => this.#settled.delete(seq));
  }
}
