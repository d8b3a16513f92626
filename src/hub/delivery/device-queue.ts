import { randomUUID } from 'node:crypto';
import type { PreparedMessage } from '../../protocol/built-messages.ts';
import type { Outbound } from '../../protocol/index.ts';
import { withFields } from '../../util/with-fields.ts';

/** Messages the hub delivers reliably: numbered, kept until acknowledged, redelivered on resume. */
export type ReliableDeviceMessage = Outbound<'execution_request' | 'execution_cancel' | 'messaging_event'>;

export interface QueuedMessage {
  /** Names the entry in a durable journal; unique within its queue. */
  id: string;
  /** Assigned when the message is sent; 0 while it waits. */
  seq: number;
  message: ReliableDeviceMessage;
  enqueuedAt: number;
  /** Sent, refused by the device (`nack`), and waiting again: it goes before what was never sent. */
  returned?: boolean;
  /** The hub node that queued it, when several share one store (its events go back there). */
  origin?: string;
  /**
   * The message serialised where it was queued (`Codec.prepare`), so each send only numbers and
   * stamps it. In this process only: a journal does not store it, and what it reads back is sent
   * by serialising its message.
   */
  prepared?: PreparedMessage;
}

/**
 * Where a queue writes its changes through to, so a restarted hub reads it back
 * (`DeviceQueue.restore`). Each call is one atomic step in the journal's store, issued in call
 * order; {@link DeviceJournal.settled} is what a send waits for, so nothing reaches the device
 * before its sequence number is stored.
 */
export interface DeviceJournal {
  /** A message waits: at the front (a cancel) or the back. */
  enqueued(entry: QueuedMessage, atFront: boolean): void;
  /** A waiting message was numbered `entry.seq` and is out, unacknowledged. */
  sent(entry: QueuedMessage): void;
  /**
   * The device has these entries (it acknowledged up to their `seq`, or reported on the request):
   * they go, whichever node holds the device now.
   */
  acked(entries: readonly QueuedMessage[]): void;
  /** A message out was refused: it waits again, before `before` (an entry id) or at the back. */
  returned(entry: QueuedMessage, before: string | undefined): void;
  /** Entries dropped (reported on, withdrawn, or expired: `expired` of them count as missed). */
  removed(ids: string[], expired: number): void;
  /** The missed count was told to the device (`connect_ack`): it starts again from 0. */
  expiredTold(): void;
  /** Resolves once every change issued so far is stored; undefined when none is pending. */
  settled(): Promise<void> | undefined;
}

/** What a queue holds that outlives the hub process: the input of {@link DeviceQueue.restore}. */
export interface DeviceQueueState {
  /** The last sequence number given out. */
  lastSeq: number;
  /** Waiting messages, in order (`seq` 0). */
  waiting: QueuedMessage[];
  /** Messages out and not acknowledged, by `seq`. */
  unacked: QueuedMessage[];
  expired: number;
}

/** Entry ids of this process: a counter, never reused within it. */
let entryCounter = 0;
// A random part too: hub nodes on other machines share the store.
const ENTRY_PREFIX = `${process.pid.toString(36)}.${Date.now().toString(36)}.${randomUUID().slice(0, 6)}.`;

/**
 * A new entry id, unique across the hub nodes of one store (process id, start time, counter); a
 * cancel's starts with `c.`, so a store can put it first without reading the entry.
 */
export function entryId(cancel: boolean): string {
  return `${cancel ? 'c.' : ''}${ENTRY_PREFIX}${(entryCounter++).toString(36)}`;
}

/**
 * What the hub holds for one device of one tenant. Messages wait (`waiting`) until the device is
 * connected and has room; when sent they get the next sequence number (per hub epoch) and stay
 * (`unacked`) until the device acknowledges them, so a new session sends them again. A cancel
 * jumps the waiting line: it concerns a request already sent.
 */
export class DeviceQueue {
  #nextSeq = 1;
  #waiting: QueuedMessage[] = [];
  #unacked: QueuedMessage[] = [];
  /**
   * The request ids of the execution requests in {@link DeviceQueue.#unacked}: every event of a
   * request asks {@link reportedOn}, and most find their request acknowledged or reported on
   * already, which without this was a scan of everything out (up to the device's credit).
   */
  readonly #unackedRequests = new Set<string>();
  /** The device said every slot and its queue are taken: hold further requests. */
  saturated = false;
  /**
   * The device refused a message it could not store (`nack`): hold everything but cancels until
   * it announces room again (`capacity` not saturated, or a new session).
   */
  held = false;
  /** Requests the device may hold at once (its slots plus queue); learnt from `capacity`. */
  credit: number;
  /** Requests sent and not yet ended. */
  readonly outstanding = new Set<string>();
  /** Waiting messages dropped by the resume window since the device's last session. */
  #expired = 0;
  readonly #journal: DeviceJournal | undefined;

  constructor(defaultCredit: number, journal?: DeviceJournal) {
    this.credit = defaultCredit;
    this.#journal = journal;
  }

  /** A queue as a journal kept it; its changes go on to that journal. */
  static restore(defaultCredit: number, state: DeviceQueueState, journal?: DeviceJournal): DeviceQueue {
    const queue = new DeviceQueue(defaultCredit, journal);
    queue.#nextSeq = state.lastSeq + 1;
    queue.#waiting = state.waiting.map((entry) => ({ ...entry, seq: 0 }));
    queue.#unacked = [...state.unacked].sort((a, b) => a.seq - b.seq);
    queue.#expired = state.expired;
    for (const entry of queue.#unacked) {
      if (entry.message.type !== 'execution_request') continue;
      queue.outstanding.add(entry.message.request_id);
      queue.#unackedRequests.add(entry.message.request_id);
    }
    return queue;
  }

  /** Waiting messages dropped by the resume window since the device's last session. */
  get expired(): number {
    return this.#expired;
  }

  /** The missed count for `connect_ack`, which starts again from 0. */
  takeExpired(): number {
    const missed = this.#expired;
    if (missed === 0) return 0;
    this.#expired = 0;
    this.#journal?.expiredTold();
    return missed;
  }

  /** Resolves once the journal has stored every change so far; undefined without one, or with nothing pending. */
  settled(): Promise<void> | undefined {
    return this.#journal?.settled();
  }

  /** What waits, in order, and what is out: for a restarted hub to pick its executions up again. */
  entries(): { waiting: readonly QueuedMessage[]; unacked: readonly QueuedMessage[] } {
    return { waiting: this.#waiting, unacked: this.#unacked };
  }

  get size(): number {
    return this.#waiting.length + this.#unacked.length;
  }

  /** How many messages wait (never sent, or refused and waiting again). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** `prepared`: `message` as `Codec.prepare` serialised it, for each send to reuse. */
  enqueue(message: ReliableDeviceMessage, now: number, prepared?: PreparedMessage): void {
    const atFront = message.type === 'execution_cancel';
    const queued: QueuedMessage = { id: entryId(atFront), seq: 0, message, enqueuedAt: now };
    if (prepared) queued.prepared = prepared;
    if (atFront) this.#waiting.unshift(queued);
    else this.#waiting.push(queued);
    this.#journal?.enqueued(queued, atFront);
  }

  /**
   * Messages another hub node queued, already stored where this queue's journal writes: they
   * wait at the back, in the order given, and are not written again.
   */
  adopt(entries: readonly QueuedMessage[]): void {
    for (const entry of entries) {
      if (entry.message.type === 'execution_cancel') this.#waiting.unshift({ ...entry, seq: 0 });
      else this.#waiting.push({ ...entry, seq: 0 });
    }
  }

  /** The device has everything up to `seq`. */
  ack(seq: number): void {
    // A loop, not findIndex and two slices: once per ack frame, and most acks cover nothing new (reportedOn took it).
    const unacked = this.#unacked;
    let keep = 0;
    while (keep < unacked.length && unacked[keep]!.seq <= seq) keep++;
    if (keep === 0) return;
    const acked = unacked.splice(0, keep);
    for (const { message } of acked) if (message.type === 'execution_request') this.#unackedRequests.delete(message.request_id);
    this.#journal?.acked(acked);
  }

  /**
   * The device refused message `seq` (`nack`): it waits again, after cancels and messages
   * refused before it and ahead of what was never sent, and the queue is held. Returns it, or
   * undefined when `seq` is not out (acknowledged already, or refused twice).
   */
  refused(seq: number): QueuedMessage | undefined {
    const index = this.#unacked.findIndex((entry) => entry.seq === seq);
    if (index === -1) return undefined;
    const [entry] = this.#unacked.splice(index, 1) as [QueuedMessage];
    entry.seq = 0;
    entry.returned = true;
    if (entry.message.type === 'execution_request') {
      this.outstanding.delete(entry.message.request_id);
      this.#unackedRequests.delete(entry.message.request_id);
    }
    const firstNew = this.#waiting.findIndex((other) => !other.returned && other.message.type !== 'execution_cancel');
    this.#journal?.returned(entry, this.#waiting[firstNew]?.id);
    this.#waiting.splice(firstNew === -1 ? this.#waiting.length : firstNew, 0, entry);
    this.held = true;
    return entry;
  }

  /**
   * The device reported on a request, so it has it durably (it journals a request before its
   * first event): never send it again, even if its `ack` was lost with a crash.
   */
  reportedOn(requestId: string): void {
    const unacked = this.#unacked;
    // Nothing out (one execution at a time: its first event took it): not even the set is asked.
    if (unacked.length === 0 || !this.#unackedRequests.delete(requestId)) return;
    // A loop, not findIndex: no closure per call.
    for (let index = 0; index < unacked.length; index++) {
      const { message } = unacked[index]!;
      if (message.type !== 'execution_request' || message.request_id !== requestId) continue;
      // A request is sent once per turn in the queue, so it is out at most once.
      const [entry] = unacked.splice(index, 1) as [QueuedMessage];
      this.#journal?.acked([entry]);
      return;
    }
  }

  /** A new session: what it must be sent again, oldest first, then nothing else until {@link next}. */
  unacked(): QueuedMessage[] {
    return [...this.#unacked];
  }

  /**
   * The next waiting message the device has room for, numbered and moved to `unacked`; undefined
   * when nothing waits or the next one is a request beyond the device's credit.
   */
  next(): QueuedMessage | undefined {
    const head = this.#waiting[0];
    if (!head) return undefined;
    if (this.held && head.message.type !== 'execution_cancel') return undefined;
    if (head.message.type === 'execution_request' && (this.saturated || this.outstanding.size >= this.credit)) return undefined;
    this.#waiting.shift();
    head.returned = false;
    head.seq = this.#nextSeq++;
    head.message = withFields(head.message, { seq: head.seq });
    this.#unacked.push(head);
    if (head.message.type === 'execution_request') {
      this.outstanding.add(head.message.request_id);
      this.#unackedRequests.add(head.message.request_id);
    }
    this.#journal?.sent(head);
    return head;
  }

  /**
   * Removes and returns waiting messages enqueued at or before `cutoff` (never-sent ones only).
   * A cancel never expires: it concerns a request the device has, and goes out when it can.
   */
  expire(cutoff: number): QueuedMessage[] {
    const expires = (entry: QueuedMessage) => entry.enqueuedAt <= cutoff && entry.message.type !== 'execution_cancel';
    const expired = this.#waiting.filter(expires);
    if (expired.length === 0) return expired;
    this.#waiting = this.#waiting.filter((entry) => !expires(entry));
    this.#expired += expired.length;
    this.#journal?.removed(
      expired.map((entry) => entry.id),
      expired.length,
    );
    return expired;
  }

  /** Removes a waiting message (a request cancelled before it was ever sent). */
  withdraw(predicate: (message: ReliableDeviceMessage) => boolean): QueuedMessage | undefined {
    const index = this.#waiting.findIndex((entry) => predicate(entry.message));
    if (index === -1) return undefined;
    const [entry] = this.#waiting.splice(index, 1) as [QueuedMessage];
    this.#journal?.removed([entry.id], 0);
    return entry;
  }

  /** When the oldest waiting message that can expire was enqueued, if any. */
  oldestWaiting(): number | undefined {
    return this.#waiting.reduce<number | undefined>(
      (oldest, entry) =>
        entry.message.type !== 'execution_cancel' && (oldest === undefined || entry.enqueuedAt < oldest) ? entry.enqueuedAt : oldest,
      undefined,
    );
  }

  /**
   * Recounts the requests out at the device from what it says it holds, plus what was sent and
   * not acknowledged (it may not have them yet). Requests that finished while it was away drop
   * out here; their terminal events are on their way in its outbox.
   */
  recount(active: readonly string[]): void {
    this.outstanding.clear();
    for (const id of active) this.outstanding.add(id);
    for (const entry of this.#unacked) if (entry.message.type === 'execution_request') this.outstanding.add(entry.message.request_id);
  }
}
