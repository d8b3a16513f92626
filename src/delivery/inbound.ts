import { StorageError } from '../adapters/storage.ts';
import { beforeHeldWrites } from '../adapters/write-batch.ts';
import type { Logger } from '../log/logger.ts';
import type { z } from 'zod';
import type { ResumeStatus } from '../protocol/messages.ts';

/** What `connect.resume` carries. */
export interface ResumeCursor {
  hub_epoch?: string;
  last_seq: number;
}

/** The hub's answer to a resume, from `connect_ack`. */
export interface ResumeAnswer {
  status: z.infer<typeof ResumeStatus>;
  hubEpoch: string;
  missed: number;
}

/**
 * Inbound delivery from the hub: processes reliable messages once and in order, and
 * acknowledges each only after its work is durable (`ack{seq}`). The cursor it keeps (hub epoch,
 * last processed seq) goes into the next `connect`, so the hub redelivers from there.
 *
 * A message at or below what was already received is a redelivery: it is acknowledged again and
 * not processed. A new hub epoch (the hub restarted) restarts the numbering.
 *
 * Work that fails with a {@link StorageError} (the device cannot store it now) is refused: a
 * `nack{seq}` gives the message back to the hub, which sends it again, under a new number, once
 * the device has room. Acks stop short of a refused message until it comes back, so a `nack`
 * lost with its connection costs nothing: the resume cursor has the hub send it again.
 */
export class InboundDelivery {
  #hubEpoch: string | undefined;
  /** Highest seq received (work may still be running): redeliveries at or below are skipped. */
  #received = 0;
  /** Highest seq whose work is durable: what is acknowledged and resumed from. */
  #processed = 0;
  /** Work runs one message at a time, in arrival order, so acks are cumulative. */
  #chain: Promise<void>;
  #ackScheduled = false;
  /** Highest seq acknowledged on this session: a turn's end sends an ack only when it has news. */
  #ackedUpTo = 0;
  /** A redelivery came: the hub is told again even without news (its ack may have been lost). */
  #ackAgain = false;
  /**
   * A message failed: acks are cumulative, so none may pass it. Work goes on (the executor drops
   * copies), and the next session gets everything from the failed one again.
   */
  #stuck = false;
  #sendAck: ((seq: number) => void) | undefined;
  #sendNack: ((seq: number) => void) | undefined;
  /** Refused messages not yet sent again, by their key: acks stay below the first one. */
  readonly #refused = new Map<string, number>();
  readonly #logger: Logger;

  constructor(logger: Logger, ready: Promise<void> = Promise.resolve()) {
    this.#logger = logger;
    this.#chain = ready.catch((error: unknown) => logger.error({ err: error }, 'recovery failed; taking work anyway'));
  }

  /** What the next `connect` says. */
  cursor(): ResumeCursor {
    return { ...(this.#hubEpoch !== undefined && { hub_epoch: this.#hubEpoch }), last_seq: this.#acknowledgeable() };
  }

  /** Messages refused and not sent again yet. */
  get refused(): number {
    return this.#refused.size;
  }

  /** A session is up, with the hub's answer to the resume (none from a hub that does not resume). */
  connected(answer: ResumeAnswer | undefined, sendAck: (seq: number) => void, sendNack: (seq: number) => void = () => {}): void {
    this.#sendAck = sendAck;
    this.#sendNack = sendNack;
    this.#stuck = false;
    // The cursor stopped short of refused messages: the hub sends them again from there.
    this.#processed = this.#acknowledgeable();
    this.#refused.clear();
    // What is not durable yet is taken again from the hub's resend (the executor drops copies).
    this.#received = this.#processed;
    if (!answer) return;
    if (answer.hubEpoch !== this.#hubEpoch) {
      // Another hub epoch numbers from 1 again.
      this.#hubEpoch = answer.hubEpoch;
      this.#received = 0;
      this.#processed = 0;
    }
    // The hub resumes from the cursor `connect` carried: that much it knows.
    this.#ackedUpTo = this.#acknowledgeable();
  }

  disconnected(): void {
    this.#sendAck = undefined;
    this.#sendNack = undefined;
  }

  /**
   * Runs `work` for a message with sequence number `seq` (undefined: not sent reliably), after
   * the work of every message before it. Resolves when it has run. `key` names the message
   * across resends (`execution_request:<request id>`): a refused message is known again by it.
   */
  process(seq: number | undefined, work: () => Promise<void>, key?: string): Promise<void> {
    if (seq !== undefined && seq <= this.#received) {
      this.#logger.debug({ seq }, 'redelivered message; acknowledged again');
      this.#ackAgain = true;
      this.#scheduleAck();
      return Promise.resolve();
    }
    if (seq !== undefined) this.#received = seq;
    // Sent again after a refusal: the hub has the nack, and acks may pass the old number.
    if (key !== undefined && seq !== undefined && (this.#refused.get(key) ?? seq) < seq) this.#refused.delete(key);
    const epoch = this.#hubEpoch;
    // The check runs right before the turn's write (src/adapters/write-batch.ts), so work done
    // within this turn is acknowledged in the same write as the events it produced, not in a
    // write of its own.
    this.#scheduleAck();
    const run = this.#chain.then(work).then(
      () => {
        if (seq === undefined || epoch !== this.#hubEpoch || this.#stuck) return;
        this.#processed = Math.max(this.#processed, seq);
        this.#scheduleAck();
      },
      (error: unknown) => {
        if (error instanceof StorageError && seq !== undefined && key !== undefined && epoch === this.#hubEpoch && !this.#stuck) {
          this.#logger.warn({ seq, key, path: error.path }, 'cannot store an inbound message; refused, the hub sends it again');
          this.#refused.set(key, seq);
          this.#processed = Math.max(this.#processed, seq);
          this.#sendNack?.(seq);
          return;
        }
        // Not acknowledged: the hub sends it again on the next connection.
        this.#logger.error({ err: error, seq }, 'cannot process an inbound message');
        if (seq === undefined || epoch !== this.#hubEpoch) return;
        this.#stuck = true;
        this.#received = Math.min(this.#received, seq - 1);
      },
    );
    this.#chain = run;
    return run;
  }

  /** Resolves when every message received so far has been processed. */
  idle(): Promise<void> {
    return this.#chain;
  }

  /** Everything up to here is processed, or refused and sent again: what acks and the cursor say. */
  #acknowledgeable(): number {
    let upTo = this.#processed;
    for (const seq of this.#refused.values()) upTo = Math.min(upTo, seq - 1);
    return upTo;
  }

  /**
   * One `ack` per burst of messages: sent after the I/O callbacks that delivered them, once their
   * work is done. A check whose work is still running sends nothing; its end schedules another.
   * It runs in the write batch's check-phase callback (`beforeHeldWrites`), not one of its own.
   */
  #scheduleAck(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    beforeHeldWrites(this.#checkAck);
  }

  readonly #checkAck = (): void => {
    this.#ackScheduled = false;
    const upTo = this.#acknowledgeable();
    if (upTo <= this.#ackedUpTo && !this.#ackAgain) return;
    this.#ackAgain = false;
    this.#ackedUpTo = upTo;
    this.#sendAck?.(upTo);
  };
}
