import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log/logger.ts';
import { CloseCode, FrameError, type Codec, type MessageOf, type Outbound } from '../../protocol/index.ts';
import type { DistributiveOmit } from '../../protocol/messages.ts';
import { ackMessage, type Built, executionRequestMessage, type PreparedMessage } from '../../protocol/built-messages.ts';
import { withFields } from '../../util/with-fields.ts';
import { beforeHeldWrites } from '../../adapters/write-batch.ts';
import { HubError, isStaleHolder } from '../core/errors.ts';
import type { DeviceMessage, SessionInfo } from '../core/events.ts';
import type { HubClock, ResolvedDeliveryOptions } from '../core/options.ts';
import type { ClusterNote, HubCluster } from '../engine/cluster.ts';
import type { OpenSessions } from '../session/open-sessions.ts';
import type { Session } from '../session/session.ts';
import type { UsageStore } from '../usage/usage-store.ts';
import type { DeviceQueue, QueuedMessage, ReliableDeviceMessage } from './device-queue.ts';
import { type DeviceQueues, MemoryDeviceQueues } from './device-queues.ts';
import { type ExecutionEventRecord, type ExecutionHandle, type ExecutionSnapshot, ExecutionStore } from './executions.ts';
import { DeviceIntake, SessionIntake } from './intake.ts';
import { RecentIds } from './recent-ids.ts';
import type { ExpiredWork } from './unheld-work.ts';

type Who = { device_id: string; tenant_id: string };

/** What `hub.execute` takes: an `execution_request` without `type`; `request_id` is generated when absent. */
export type ExecutionRequestInput = DistributiveOmit<Outbound<'execution_request'>, 'type' | 'request_id' | 'seq'> & {
  request_id?: string;
};

/** What `hub.sendMessagingEvent` takes: a `messaging_event` without `type`; `request_id` is generated when absent. */
export type MessagingEventInput = Omit<Outbound<'messaging_event'>, 'type' | 'request_id' | 'seq'> & { request_id?: string };

/** The device's answer to a messaging event, or `undelivered` when it never reached the device. */
export type MessagingResult = MessageOf<'messaging_reply'>['result'] | { status: 'undelivered'; reason: string };

/** Device messages that arrive numbered and are acknowledged once stored. */
type ReliableFromDevice = MessageOf<'execution_event' | 'usage_report' | 'messaging_reply'>;

export interface DeliveryHost {
  sessions: OpenSessions;
  codec: Codec;
  clock: HubClock;
  logger: Logger;
  options: ResolvedDeliveryOptions;
  /** Where the device queues live (the hub engine's). Default: this process's memory. */
  queues?: DeviceQueues;
  /** The ledger, once `listen()` has opened it. */
  ledger(): UsageStore | undefined;
  /** The other hub nodes on the engine's store (docs/scaling.md, "Several nodes"); none on a single node. */
  cluster?: HubCluster | undefined;
  emitMessage(info: SessionInfo, message: DeviceMessage): void;
}

const keyOf = (who: Who) => `${who.tenant_id}\u0000${who.device_id}`;

/**
 * Reliable delivery at the hub, both ways. To devices: executions and cancels wait in a
 * {@link DeviceQueue} per (tenant, device), go out when the device is connected and has room
 * (its `capacity`), and are resent on a new session until acknowledged; `connect.resume` says
 * where the device left off. From devices: numbered messages are deduplicated by id, applied
 * (execution store, usage ledger), and acknowledged once stored.
 */
export class HubDelivery {
  readonly executions: ExecutionStore;
  readonly #host: DeliveryHost;
  readonly #queues: DeviceQueues;
  /** Each device's intake by {@link keyOf}: the ids it sent, and what of it is being applied. */
  readonly #devices = new Map<string, DeviceIntake>();
  /** Each session's intake, found once per frame (its device's, and its ack). */
  readonly #intakes = new WeakMap<Session, SessionIntake>();
  readonly #expiryTimers = new Map<string, unknown>();
  /**
   * Per device, sends waiting for the queue's journal (a durable engine): a message goes out only
   * once its sequence number is stored, and in order. Forgotten once idle.
   */
  readonly #sending = new Map<string, Promise<void>>();
  /** Messaging events waiting for their reply, by (tenant, device, request id): only that device may answer. */
  readonly #replies = new Map<string, { resolve: (result: MessagingResult) => void; resent: boolean }>();
  /** With several nodes: the node each request held here was dispatched on, when another one (its events go there). */
  readonly #origins = new Map<string, string>();
  readonly #cluster: HubCluster | undefined;

  constructor(host: DeliveryHost) {
    this.#host = host;
    this.#cluster = host.cluster;
    this.executions = new ExecutionStore(host.options.retainExecutions);
    const cluster = host.cluster;
    if (cluster) this.executions.mirror = (snapshot, event) => cluster.recorded(snapshot, event);
    this.#queues = host.queues ?? new MemoryDeviceQueues(host.options.defaultCredit);
  }

  /**
   * The delivery epoch (`connect_ack.resume.hub_epoch`): the device queues'. It changes when the
   * queues do not outlive the hub (in memory); a device's cursor from another epoch means nothing here.
   */
  get epoch(): string {
    return this.#queues.epoch;
  }

  /**
   * Picks up the queues a durable engine read back (`listen()`): their executions are tracked
   * again (`queued`, or `delivered` when out at the device) and wait under the resume window.
   */
  restored(): void {
    const now = this.#host.clock.now();
    for (const { who, queue } of this.#queues.all()) {
      const { waiting, unacked } = queue.entries();
      for (const [entries, status] of [
        [waiting, 'queued'],
        [unacked, 'delivered'],
      ] as const) {
        for (const { message, enqueuedAt } of entries) {
          if (message.type !== 'execution_request' || this.executions.has(message.request_id)) continue;
          this.executions.create(message, who, enqueuedAt);
          if (status === 'delivered') this.executions.mark(message.request_id, 'delivered', now);
        }
      }
      this.#armExpiry(who, queue);
    }
  }

  /**
   * Answers a `connect.resume` before `connect_ack`: what the device acknowledged by its cursor
   * is dropped, and whether anything was lost is said.
   */
  resume(who: Who, connect: MessageOf<'connect'>): NonNullable<MessageOf<'connect_ack'>['resume']> {
    const cursor = connect.resume;
    const queue = this.#queue(who);
    this.#expire(who, queue);
    const sameEpoch = cursor?.hub_epoch === this.epoch;
    if (sameEpoch) queue.ack(cursor.last_seq);
    const status =
      cursor?.hub_epoch !== undefined && !sameEpoch && cursor.last_seq > 0 ? 'reset' : queue.expired > 0 ? 'expired' : 'resumed';
    const missed = queue.takeExpired();
    // What the device announced; one that announces nothing gets the default credit.
    const capacity = connect.capacity;
    queue.saturated = capacity?.saturated ?? false;
    // A new session starts afresh: what the device refuses on it holds the queue again.
    queue.held = false;
    queue.credit = capacity ? capacity.max_concurrency + capacity.max_queue : this.#host.options.defaultCredit;
    if (capacity?.active) queue.recount(capacity.active);
    return { status, hub_epoch: this.epoch, missed };
  }

  /** After `connect_ack`: resend what was not acknowledged, then what waits. */
  opened(session: Session, who: Who): void {
    const queue = this.#queue(who);
    for (const entry of queue.unacked()) {
      if (entry.message.type === 'messaging_event') {
        const waiting = this.#replies.get(`${keyOf(who)}\u0000${entry.message.request_id}`);
        if (waiting) waiting.resent = true;
      }
      this.#send(session, who, queue, entry);
    }
    this.#drain(session, queue, who);
  }

  /**
   * Queues an execution for a device (connected or not) and returns its handle.
   *
   * @throws {HubError} `tenant_required`, `ambiguous_device`, `duplicate_request`, `queue_full` or `invalid_message`.
   */
  execute(deviceId: string, input: ExecutionRequestInput, tenantId: string | undefined): ExecutionHandle {
    const who = { device_id: deviceId, tenant_id: this.#tenantOf(deviceId, tenantId) };
    const request = withFields(input, {
      type: 'execution_request',
      request_id: input.request_id ?? `req_${randomUUID()}`,
    }) as Outbound<'execution_request'>;
    // What `encode` checks, serialising once: the schema here, then the built message's JSON
    // (that it serialises, its size), which every send of it reuses (#sendNow).
    const codec = this.#host.codec;
    const checked = codec.validate(request);
    if (!checked.ok) throw new HubError('invalid_message', checked.error.message, { cause: checked.error });
    const valid = checked.value as MessageOf<'execution_request'>;
    const built = executionRequestMessage(valid, input);
    const prepared = codec.prepare(built, valid);
    if (prepared && !prepared.ok) throw new HubError('invalid_message', prepared.error.message, { cause: prepared.error });
    if (this.executions.has(request.request_id))
      throw new HubError('duplicate_request', `request '${request.request_id}' was dispatched already`);
    // Before a durable engine is open this throws `invalid_state`: no work is taken then.
    const queue = this.#queue(who);
    const cluster = this.#cluster;
    if (cluster && !cluster.holds(who)) return this.#executeElsewhere(cluster, who, request, valid, built);
    if (queue.size >= this.#host.options.maxQueuedPerDevice) {
      throw new HubError(
        'queue_full',
        `device '${deviceId}' has ${queue.size} messages waiting; the limit is ${this.#host.options.maxQueuedPerDevice}`,
      );
    }
    const now = this.#host.clock.now();
    const tracked = this.executions.create(valid, who, now);
    cluster?.dispatched(request.request_id, who, request.job_type, now);
    // Validated and serialised here, once: each send of it (#sendNow) only numbers and stamps it.
    this.#enqueue(who, queue, built, now, prepared?.value);
    return {
      requestId: request.request_id,
      events: this.executions.events(tracked),
      result: tracked.result,
      stored: queue.settled() ?? STORED,
      cancel: (reason) => this.cancel(request.request_id, reason),
    };
  }

  /**
   * Queues a messaging event for a device (delivered reliably, like executions) and resolves
   * with its reply: the first one with a final status (`processing` is not final).
   *
   * @throws {HubError} `tenant_required`, `ambiguous_device`, `duplicate_request`, `queue_full` or `invalid_message`.
   */
  message(
    deviceId: string,
    input: MessagingEventInput,
    tenantId: string | undefined,
  ): { requestId: string; reply: Promise<MessagingResult> } {
    const who = { device_id: deviceId, tenant_id: this.#tenantOf(deviceId, tenantId) };
    const event = withFields(input, {
      type: 'messaging_event',
      request_id: input.request_id ?? `msg_${randomUUID()}`,
    }) as Outbound<'messaging_event'>;
    const encoded = this.#host.codec.encode(event);
    if (!encoded.ok) throw new HubError('invalid_message', encoded.error.message, { cause: encoded.error });
    const replyKey = `${keyOf(who)}\u0000${event.request_id}`;
    if (this.#replies.has(replyKey))
      throw new HubError('duplicate_request', `messaging event '${event.request_id}' is waiting for its reply`);
    const cluster = this.#cluster;
    if (cluster && !cluster.holds(who)) {
      const reply = new Promise<MessagingResult>((resolve) => this.#replies.set(replyKey, { resolve, resent: false }));
      this.#appendElsewhere(cluster, who, event, () => {
        this.#replies.get(replyKey)?.resolve({ status: 'undelivered', reason: 'queue_full' });
        this.#replies.delete(replyKey);
      });
      return { requestId: event.request_id, reply };
    }
    const queue = this.#queue(who);
    if (queue.size >= this.#host.options.maxQueuedPerDevice)
      throw new HubError('queue_full', `device '${deviceId}' has ${queue.size} messages waiting`);
    const reply = new Promise<MessagingResult>((resolve) => this.#replies.set(replyKey, { resolve, resent: false }));
    this.#enqueue(who, queue, event, this.#host.clock.now());
    return { requestId: event.request_id, reply };
  }

  /**
   * Cancels an execution: withdrawn at once if it never left the hub, else an `execution_cancel`
   * goes to the device ahead of anything waiting. Returns false for an unknown or ended one.
   */
  cancel(requestId: string, reason = 'cancelled at the hub', stored?: ExecutionSnapshot): boolean {
    // Several nodes: one this node knows only from the store's copy (`snapshotAnywhere`) is cancelled through its device's holder.
    const snapshot = this.executions.snapshot(requestId) ?? (this.#cluster ? stored : undefined);
    if (!snapshot || isEnded(snapshot)) return false;
    const who = { device_id: snapshot.device_id, tenant_id: snapshot.tenant_id };
    const cluster = this.#cluster;
    const cancelMessage: ReliableDeviceMessage = { type: 'execution_cancel', request_id: requestId, reason };
    if (cluster && !cluster.holds(who)) {
      // Its holder withdraws it if it still waits, or sends the cancel (see #applyCancel).
      this.#appendElsewhere(cluster, who, cancelMessage);
      return true;
    }
    const queue = this.#queue(who);
    const now = this.#host.clock.now();
    if (snapshot.status === 'queued' && queue.withdraw((m) => m.type === 'execution_request' && m.request_id === requestId)) {
      this.#endHere(who, requestId, 'cancelled', { reason, duration_ms: 0 }, now);
      return true;
    }
    this.#enqueue(who, queue, cancelMessage, now);
    return true;
  }

  /**
   * Cancels an execution any node knows: this node's record, else (several nodes) the copy in the
   * store, routed through its device's holder. The one path of `hub.cancelExecution` and
   * `POST /v1/executions/{id}/cancel`. Resolves `unknown` for an execution no node knows,
   * `ended` (with the snapshot that says so) for one that has ended. Rejects when the store
   * cannot be read.
   */
  async cancelAnywhere(
    requestId: string,
    reason: string | undefined,
  ): Promise<{ outcome: 'cancelling' | 'ended' | 'unknown'; snapshot?: ExecutionSnapshot }> {
    const known = this.executions.snapshot(requestId) ?? (await this.snapshotAnywhere(requestId));
    if (!known) return { outcome: 'unknown' };
    return { outcome: this.cancel(requestId, reason, known) ? 'cancelling' : 'ended', snapshot: known };
  }

  snapshot(requestId: string): ExecutionSnapshot | undefined {
    return this.executions.snapshot(requestId);
  }

  /**
   * An execution as any node knows it (several nodes: the copy in the store, kept by the node
   * that holds its device, when this node's is not final or it has none); else this node's.
   */
  async snapshotAnywhere(requestId: string): Promise<ExecutionSnapshot | undefined> {
    const local = this.executions.snapshot(requestId);
    if (!this.#cluster || (local && isEnded(local))) return local;
    const stored = await this.#cluster.snapshotOf(requestId);
    if (!stored) return local;
    return !local || stored.updated_at >= local.updated_at ? stored : local;
  }

  /** Whether `(tenant, device)` said it is saturated, and the credit it gave. */
  capacityOf(who: Who): { saturated: boolean; credit: number; waiting: number; outstanding: number } {
    const queue = this.#queue(who);
    return { saturated: queue.saturated, credit: queue.credit, waiting: queue.size, outstanding: queue.outstanding.size };
  }

  /** A message from an open session that is delivery's business (and `error`, passed on). */
  receive(session: Session, info: SessionInfo, message: MessageOf<'ack' | 'nack' | 'capacity' | 'error'> | ReliableFromDevice): void {
    switch (message.type) {
      case 'ack':
        return this.#queue(info).ack(message.seq);
      case 'nack':
        return this.#refused(info, this.#queue(info), message);
      case 'capacity': {
        const queue = this.#queue(info);
        queue.saturated = message.saturated;
        if (!message.saturated) queue.held = false;
        queue.credit = message.max_concurrency + message.max_queue;
        if (message.active) queue.recount(message.active);
        return this.#drain(session, queue, info);
      }
      case 'error':
        return this.#host.emitMessage(info, message);
      default:
        return this.#receiveReliable(session, info, message);
    }
  }

  /**
   * The device could not store a message it was sent: it waits here again (an execution goes
   * back to `queued`) until the device says it has room.
   */
  #refused(who: Who, queue: DeviceQueue, nack: MessageOf<'nack'>): void {
    const entry = queue.refused(nack.seq);
    if (!entry) return;
    const requestId = entry.message.request_id;
    this.#host.logger.warn(
      { ...who, seq: nack.seq, type: entry.message.type, request_id: requestId, reason: nack.reason },
      'device refused a message; queued again',
    );
    if (entry.message.type === 'execution_request') this.executions.mark(requestId, 'queued', this.#host.clock.now());
    this.#armExpiry(who, queue);
  }

  /** Stops the expiry timers (hub close). */
  close(): void {
    for (const timer of this.#expiryTimers.values()) this.#host.clock.clearTimeout(timer);
    this.#expiryTimers.clear();
  }

  /**
   * Applies a device's reliable message once and in order, then acknowledges it. Per device,
   * across its sessions, messages are applied one after the other and each is acknowledged only
   * after it and everything before it was applied (a resend on a new session waits for the old
   * session's work). With nothing of that device's still being applied, a message that needs no
   * I/O (an execution event) is applied at once; otherwise it waits its turn in a promise chain.
   * Three promises per message were a large share of the hub's CPU on the execution path
   * (bench/round-trip).
   */
  #receiveReliable(session: Session, info: SessionInfo, message: ReliableFromDevice): void {
    const intake = this.#intakeOf(session, info);
    const device = intake.device;
    const recent = device.recent;
    const previous = device.applying;
    // Callbacks inline, not named consts: tsx names those with a defineProperty on every call.
    if (!recent.add(message.id)) {
      // Seen: acknowledged again, but in turn, so the ack never covers a message still being applied.
      if (!previous) return this.#applied(session, intake, message);
      return this.#inTurn(
        device,
        previous.then(() => (recent.has(message.id) ? this.#applied(session, intake, message) : undefined)),
      );
    }
    if (previous) {
      const applied = previous.then(() => this.#apply(info, message));
      return this.#inTurn(
        device,
        applied.then(
          () => this.#applied(session, intake, message),
          (error: unknown) => this.#notStored(session, intake, message, error),
        ),
      );
    }
    let applying: void | Promise<void>;
    try {
      applying = this.#apply(info, message);
    } catch (error) {
      return this.#notStored(session, intake, message, error);
    }
    if (applying)
      this.#inTurn(
        device,
        applying.then(
          () => this.#applied(session, intake, message),
          (error: unknown) => this.#notStored(session, intake, message, error),
        ),
      );
    else this.#applied(session, intake, message);
  }

  #applied(session: Session, intake: SessionIntake, message: ReliableFromDevice): void {
    if (message.seq !== undefined) this.#acknowledge(session, intake, message.seq);
  }

  /**
   * Not stored: it must not be acknowledged, nor anything after it (acks are cumulative).
   * Closing the session makes the device resend from here on the next one.
   */
  #notStored(session: Session, intake: SessionIntake, message: ReliableFromDevice, error: unknown): void {
    intake.device.recent.delete(message.id);
    intake.failed = true;
    this.#host.logger.error({ err: error, type: message.type, id: message.id }, 'cannot store a device message; closing the session');
    session.close(CloseCode.internalError, 'storage_failed');
  }

  /** Makes `next` the device's turn: what comes later waits for it. Forgotten once idle, so an idle device holds no promise. */
  #inTurn(device: DeviceIntake, next: Promise<void>): void {
    const settled = next.finally(() => {
      if (device.applying === settled) device.applying = undefined;
    });
    device.applying = settled;
  }

  /** Applies a message; a promise only when it has I/O to wait for (the usage ledger). */
  #apply(info: SessionInfo, message: ReliableFromDevice): void | Promise<void> {
    const now = this.#host.clock.now();
    if (message.type === 'execution_event') {
      if (this.#cluster && !this.executions.has(message.request_id)) return this.#eventOfElsewhere(this.#cluster, info, message);
      if (this.executions.record(message, info, now) && this.#cluster) this.#forward(info, message, now);
      // One look-up of the device's queue for both.
      const queue = this.#queue(info);
      queue.reportedOn(message.request_id);
      if (isTerminalEvent(message.event_type)) this.#ended(info, queue, message.request_id);
    } else if (message.type === 'usage_report') {
      const ledger = this.#host.ledger();
      if (!ledger) throw new Error('the usage ledger is not open');
      const owner = this.executions.ownerOf(message.request_id);
      if (owner && (owner.device_id !== info.device_id || owner.tenant_id !== info.tenant_id)) {
        // Another device's request: not booked (it would take the real report's place), but acknowledged.
        this.#host.logger.warn(
          { device_id: info.device_id, request_id: message.request_id },
          "usage report for another device's request refused",
        );
        return;
      }
      // The same id as the hub's own string: the ledger keeps it for the hub's life, and the frame's copy can die young.
      if (owner) message.request_id = owner.request_id;
      const where = { tenant_id: info.tenant_id, device_id: info.device_id };
      // A copy (resent past the dedupe window, or to another node) is not booked, nor told again.
      // In memory, booked at once: no promise for what comes after it to wait on.
      const booked = ledger.bookAtOnce?.(where, message, now);
      if (booked === undefined)
        return ledger.book(where, message, now).then((fresh) => {
          if (fresh) this.#host.emitMessage(info, message);
        });
      if (booked) this.#host.emitMessage(info, message);
      return;
    } else if (message.type === 'messaging_reply') {
      // Several nodes: a reply resent to another node after its node died is applied there only if it is news.
      if (!this.#cluster) return this.#applyReply(info, message);
      return this.#cluster.firstSeen(info, message.id).then((first) => {
        if (first) this.#applyReply(info, message);
      });
    }
    this.#host.emitMessage(info, message);
  }

  /** A messaging reply: a final one answers who waits for it (here, or on the node that queued it); the host hears each. */
  #applyReply(info: SessionInfo, message: MessageOf<'messaging_reply'>): void {
    if (message.result.status !== 'processing') {
      const replyKey = `${keyOf(info)}\u0000${message.request_id}`;
      const waiting = this.#replies.get(replyKey);
      const origin = this.#origins.get(replyKey);
      if (origin && !waiting) {
        this.#origins.delete(replyKey);
        this.#cluster?.send(origin, { t: 'reply', who: pick(info), request_id: message.request_id, result: message.result });
      }
      // After a resend on a new session, `duplicate` answers the copy: the real answer follows.
      if (!waiting || (waiting.resent && message.result.status === 'duplicate')) return this.#host.emitMessage(info, message);
      waiting.resolve(message.result);
      this.#replies.delete(replyKey);
    }
    this.#host.emitMessage(info, message);
  }

  /** A request ended: the device has room for another. */
  #ended(who: Who, queue: DeviceQueue, requestId: string): void {
    if (!queue.outstanding.delete(requestId)) return;
    const session = this.#host.sessions.get(who.tenant_id, who.device_id)?.session;
    if (session) this.#drain(session, queue, who);
  }

  /** Queues `message` (enqueued at `now`), sends what the device has room for, and arms the resume window for what still waits. */
  #enqueue(who: Who, queue: DeviceQueue, message: ReliableDeviceMessage, now: number, prepared?: PreparedMessage): void {
    queue.enqueue(message, now, prepared);
    const session = this.#host.sessions.get(who.tenant_id, who.device_id)?.session;
    if (session) this.#drain(session, queue, who, now);
    // After the sends: a message sent at once has no window to wait out, so needs no timer.
    this.#armExpiry(who, queue);
  }

  /** Sends what waits, as far as the device's room allows; `now` when the caller read the clock already. */
  #drain(session: Session, queue: DeviceQueue, who: Who, now?: number): void {
    for (let entry = queue.next(); entry; entry = queue.next()) {
      this.#send(session, who, queue, entry);
      if (entry.message.type === 'execution_request')
        this.executions.mark(entry.message.request_id, 'delivered', (now ??= this.#host.clock.now()));
    }
  }

  /**
   * Sends a queued message: at once when the queue's journal has nothing pending (always so in
   * memory), else once it has stored everything before, in order. A journal that cannot store
   * closes the session: the device resends its cursor on the next one.
   */
  #send(session: Session, who: Who, queue: DeviceQueue, entry: QueuedMessage): void {
    // As numbered now: the entry itself may be numbered again (refused, then sent anew) before a send that waits goes out.
    const { message, prepared } = entry;
    const settled = queue.settled();
    // The memory engine's path: nothing pending anywhere, so no key to build.
    if (!settled && this.#sending.size === 0) return this.#sendNow(session, message, prepared);
    const key = keyOf(who);
    const previous = this.#sending.get(key);
    if (!previous && !settled) return this.#sendNow(session, message, prepared);
    const sent = (previous ?? Promise.resolve())
      .then(() => settled)
      .then(
        () => this.#sendNow(session, message, prepared),
        (error: unknown) => {
          if (isStaleHolder(error)) return session.close(CloseCode.replaced, 'replaced');
          this.#host.logger.error({ err: error, ...who, type: message.type }, 'cannot store the device queue; closing the session');
          session.close(CloseCode.internalError, 'storage_failed');
        },
      )
      // Sent off the caller's stack: a throw here (a bug) is logged, not an unhandled rejection.
      .catch((error: unknown) => this.#host.logger.error({ err: error, type: message.type }, 'cannot send a queued message'));
    const tracked = sent.finally(() => {
      if (this.#sending.get(key) === tracked) this.#sending.delete(key);
    });
    this.#sending.set(key, tracked);
  }

  #sendNow(session: Session, message: ReliableDeviceMessage, prepared: PreparedMessage | undefined): void {
    try {
      // A request was validated where the host handed it in (execute), and serialised there when
      // queued on this node; a durable engine gives back what it stored.
      if (prepared && message.seq !== undefined) session.sendPrepared(prepared, message.seq);
      else if (message.type === 'execution_request') session.sendBuilt(message as Built<'execution_request'>);
      else session.send(message);
    } catch (error) {
      // Encoded once already on the way in; a failure here is a bug, not bad input.
      if (!(error instanceof FrameError)) throw error;
      this.#host.logger.error({ code: error.code, type: message.type }, 'queued message no longer encodes');
    }
  }

  /**
   * Coalesces acknowledgements: one `ack` per burst of frames from a session, sent at the end of
   * the turn right before the session's held frames are written (src/adapters/write-batch.ts), so
   * it shares their write and their `setImmediate`.
   */
  #acknowledge(session: Session, intake: SessionIntake, seq: number): void {
    if (intake.failed) return;
    if (seq > intake.ackSeq) intake.ackSeq = seq;
    if (intake.ackScheduled) return;
    intake.ackScheduled = true;
    beforeHeldWrites(intake.flushAck);
  }

  #sendAck(session: Session, intake: SessionIntake): void {
    intake.ackScheduled = false;
    if (intake.failed) return;
    try {
      session.sendBuilt(ackMessage(intake.ackSeq));
    } catch (error) {
      this.#host.logger.error({ err: error }, 'cannot send an ack');
    }
  }

  /** Drops requests that waited past the resume window, and books them `undelivered`. */
  #expire(who: Who, queue: DeviceQueue): void {
    // A device held by another node: that node expires its queue.
    if (this.#cluster && !this.#cluster.holds(who)) return;
    const now = this.#host.clock.now();
    for (const entry of queue.expire(now - this.#host.options.resumeWindowMs)) {
      if (entry.message.type === 'messaging_event') {
        const replyKey = `${keyOf(who)}\u0000${entry.message.request_id}`;
        this.#replies.get(replyKey)?.resolve({ status: 'undelivered', reason: 'resume_window_passed' });
        this.#replies.delete(replyKey);
      }
      if (entry.message.type !== 'execution_request') continue;
      this.#host.logger.warn({ ...who, request_id: entry.message.request_id }, 'request expired before delivery');
      this.#endHere(
        who,
        entry.message.request_id,
        'undelivered',
        { reason: 'resume_window_passed', waited_ms: now - entry.enqueuedAt },
        now,
      );
    }
  }

  #armExpiry(who: Who, queue: DeviceQueue): void {
    // Nothing waiting (everything went out at once): no key to build.
    if (queue.waiting === 0) return;
    const key = keyOf(who);
    if (this.#expiryTimers.has(key)) return;
    const oldest = queue.oldestWaiting();
    if (oldest === undefined) return;
    const { clock, options } = this.#host;
    const delay = Math.max(0, oldest + options.resumeWindowMs - clock.now()) + 1;
    this.#expiryTimers.set(
      key,
      clock.setTimeout(() => {
        this.#expiryTimers.delete(key);
        // The queue as it is now: a claim (several nodes) reads a device's queue afresh.
        const current = this.#queue(who);
        this.#expire(who, current);
        this.#armExpiry(who, current);
      }, delay),
    );
  }

  /**
   * A session of the device opens on this node (several nodes): the device is claimed, its queue
   * read from the store, its executions tracked here, and the cancels other nodes queued applied.
   * Undefined without a cluster: a single node has nothing to wait for.
   */
  claim(info: SessionInfo): Promise<void> | undefined {
    const cluster = this.#cluster;
    if (!cluster) return undefined;
    return cluster.claim(info, info.session_id).then(({ cancels }) => {
      const queue = this.#queue(info);
      const { waiting, unacked } = queue.entries();
      this.#adopt(info, waiting, 'queued');
      this.#adopt(info, unacked, 'delivered');
      for (const entry of cancels) this.#applyCancel(info, queue, entry);
    });
  }

  /** A session of the device ended (several nodes): the device is let go once its writes are stored. */
  release(info: SessionInfo): void {
    void this.#cluster?.release(info, info.session_id);
  }

  /** A note from another node that is delivery's: work to pull, an event or a reply of a request dispatched here. */
  note(note: Extract<ClusterNote, { t: 'poke' | 'event' | 'ended' | 'reply' }>): void {
    if (note.t === 'poke') return this.#pull(note.who);
    if (note.t === 'ended') return this.executions.end(note.request_id, note.status, note.data, this.#host.clock.now(), true);
    if (note.t === 'event') {
      const { event } = note;
      const message = { type: 'execution_event', request_id: note.request_id, ...event } as unknown as MessageOf<'execution_event'>;
      this.executions.record(message, note.who, event.received_at, true);
      return;
    }
    const replyKey = `${keyOf(note.who)}\u0000${note.request_id}`;
    this.#replies.get(replyKey)?.resolve(note.result);
    this.#replies.delete(replyKey);
  }

  /**
   * Work that waited past the resume window for a device no node holds, taken out of its queue
   * in the store by the node holding the expiry lease (unheld-expiry.ts): it ends
   * `undelivered` (`resume_window_passed`) here, in the copy every node answers from, and on every
   * other node that tracks it (the one that dispatched it settles its handle); a messaging
   * event's reply is `undelivered` wherever it is awaited.
   */
  expiredUnheld({ who, entry }: ExpiredWork): void {
    const cluster = this.#cluster;
    const { message } = entry;
    const now = this.#host.clock.now();
    if (message.type === 'messaging_event') {
      const note = { t: 'reply', who: pick(who), request_id: message.request_id, result: UNDELIVERED } as const;
      this.note(note);
      cluster?.broadcast(note);
      return;
    }
    if (message.type !== 'execution_request') return;
    const data = { reason: 'resume_window_passed', waited_ms: now - entry.enqueuedAt };
    this.#host.logger.warn({ ...who, request_id: message.request_id }, 'request expired before delivery; its device is held by no node');
    const ended = { request_id: message.request_id, ...pick(who), job_type: message.job_type, created_at: entry.enqueuedAt };
    cluster?.recorded({ ...ended, status: 'undelivered', updated_at: now, events: [], outcome: data }, undefined);
    this.executions.end(message.request_id, 'undelivered', data, now, true);
    cluster?.broadcast({ t: 'ended', who: pick(who), request_id: message.request_id, status: 'undelivered', data });
  }

  /** Work for a device held elsewhere (or nowhere): tracked here, queued in the store, its events sent back here. */
  #executeElsewhere(
    cluster: HubCluster,
    who: Who,
    request: Outbound<'execution_request'>,
    valid: MessageOf<'execution_request'>,
    built: Built<'execution_request'>,
  ): ExecutionHandle {
    const now = this.#host.clock.now();
    const tracked = this.executions.create(valid, who, now);
    cluster.dispatched(request.request_id, who, request.job_type, now);
    // Validated here, once, as on the local path: the holder sends it without a schema pass.
    const stored = this.#appendElsewhere(cluster, who, built, () =>
      this.executions.end(request.request_id, 'undelivered', { reason: 'queue_full' }, this.#host.clock.now()),
    );
    return {
      requestId: request.request_id,
      events: this.executions.events(tracked),
      result: tracked.result,
      stored,
      cancel: (reason) => this.cancel(request.request_id, reason),
    };
  }

  /** Queues a message in the store for the device's holder; `full` runs when its queue is full (or the store refuses). */
  #appendElsewhere(cluster: HubCluster, who: Who, message: ReliableDeviceMessage, full?: () => void): Promise<void> {
    return cluster.append(who, message, this.#host.clock.now(), this.#host.options.maxQueuedPerDevice).then(
      (queued) => {
        if (queued) return;
        this.#host.logger.warn({ ...who, type: message.type, request_id: message.request_id }, 'device queue full; not queued');
        full?.();
      },
      (error: unknown) => {
        this.#host.logger.error({ err: error, ...who, type: message.type }, 'cannot queue work for a device held elsewhere');
        full?.();
      },
    );
  }

  /** Takes what other nodes queued for a device held here, and sends it. */
  #pull(who: Who): void {
    const cluster = this.#cluster;
    if (!cluster?.holds(who)) return;
    cluster.pull(who).then(
      ({ requests, cancels }) => {
        if (requests.length === 0 && cancels.length === 0) return;
        const queue = this.#queue(who);
        this.#adopt(who, requests, 'queued');
        for (const entry of cancels) this.#applyCancel(who, queue, entry);
        this.#armExpiry(who, queue);
        const session = this.#host.sessions.get(who.tenant_id, who.device_id)?.session;
        if (session) this.#drain(session, queue, who);
      },
      (error: unknown) => this.#host.logger.warn({ err: error, ...who }, 'cannot take the work other nodes queued'),
    );
  }

  /** Tracks the executions of entries read from the store, and where their events go. */
  #adopt(who: Who, entries: readonly QueuedMessage[], status: 'queued' | 'delivered'): void {
    const self = this.#cluster?.nodeId;
    const now = this.#host.clock.now();
    for (const { message, enqueuedAt, origin } of entries) {
      const remote = origin !== undefined && origin !== self ? origin : undefined;
      if (message.type === 'messaging_event') {
        if (remote) this.#origins.set(`${keyOf(who)}\u0000${message.request_id}`, remote);
        continue;
      }
      if (message.type !== 'execution_request') continue;
      if (remote) this.#origins.set(message.request_id, remote);
      if (this.executions.has(message.request_id)) continue;
      this.executions.create(message, who, enqueuedAt);
      if (status === 'delivered') this.executions.mark(message.request_id, 'delivered', now);
    }
  }

  /** A cancel another node queued: the request is withdrawn if it still waits here, else the cancel goes out. */
  #applyCancel(who: Who, queue: DeviceQueue, entry: QueuedMessage): void {
    const requestId = entry.message.request_id;
    if (!queue.withdraw((m) => m.type === 'execution_request' && m.request_id === requestId)) return;
    queue.withdraw((m) => m.type === 'execution_cancel' && m.request_id === requestId);
    const now = this.#host.clock.now();
    const reason = entry.message.type === 'execution_cancel' ? entry.message.reason : undefined;
    const data = { reason: reason ?? 'cancelled at the hub', duration_ms: 0 };
    this.#endHere(who, requestId, 'cancelled', data, now);
  }

  /** Ends a request that never reached the device; with several nodes, the node that dispatched it is told. */
  #endHere(who: Who, requestId: string, status: 'undelivered' | 'cancelled', data: Record<string, unknown>, now: number): void {
    this.executions.end(requestId, status, data, now);
    const origin = this.#origins.get(requestId);
    if (!origin) return;
    this.#origins.delete(requestId);
    this.#cluster?.send(origin, { t: 'ended', who: pick(who), request_id: requestId, status, data });
  }

  /** An event recorded here of a request dispatched on another node: sent there too. */
  #forward(who: Who, message: MessageOf<'execution_event'>, now: number): void {
    const origin = this.#origins.get(message.request_id);
    if (!origin) return;
    const event: ExecutionEventRecord = {
      event_id: message.event_id,
      event_type: message.event_type,
      data: message.data,
      received_at: now,
    };
    this.#cluster?.send(origin, { t: 'event', who: pick(who), request_id: message.request_id, event });
    if (isTerminalEvent(message.event_type)) this.#origins.delete(message.request_id);
  }

  /**
   * An event of a request this node never queued (it reached the device through another node,
   * which then lost it): its origin is read from the store, then it is recorded and sent there.
   */
  async #eventOfElsewhere(cluster: HubCluster, info: SessionInfo, message: MessageOf<'execution_event'>): Promise<void> {
    const origin = await cluster.originOf(message.request_id, message.event_id);
    if (origin && origin.who.tenant_id === info.tenant_id && origin.who.device_id === info.device_id) {
      if (!this.executions.has(message.request_id)) {
        const jobType = origin.job_type as ExecutionSnapshot['job_type'];
        this.executions.create({ request_id: message.request_id, job_type: jobType }, origin.who, this.#host.clock.now());
      }
      if (origin.node !== cluster.nodeId) this.#origins.set(message.request_id, origin.node);
    }
    const now = this.#host.clock.now();
    if (this.executions.record(message, info, now)) this.#forward(info, message, now);
    const queue = this.#queue(info);
    queue.reportedOn(message.request_id);
    if (isTerminalEvent(message.event_type)) this.#ended(info, queue, message.request_id);
    // Resent here after the node that recorded it died: its host heard it there.
    if (!origin?.recorded) this.#host.emitMessage(info, message);
  }

  #queue(who: Who): DeviceQueue {
    return this.#queues.of(who);
  }

  /** The intake of a session's frames: made on its first numbered frame, with its device's (made on the device's first). */
  #intakeOf(session: Session, info: SessionInfo): SessionIntake {
    const intake = this.#intakes.get(session);
    if (intake !== undefined) return intake;
    const key = keyOf(info);
    let device = this.#devices.get(key);
    if (device === undefined) {
      device = new DeviceIntake(new RecentIds(this.#host.options.dedupeWindow));
      this.#devices.set(key, device);
    }
    const made: SessionIntake = new SessionIntake(device, () => this.#sendAck(session, made));
    this.#intakes.set(session, made);
    return made;
  }

  /** The tenant to queue for: the one given, else the only one the device is connected in. */
  #tenantOf(deviceId: string, tenantId: string | undefined): string {
    if (tenantId !== undefined) return tenantId;
    const [only, ...others] = this.#host.sessions.withDevice(deviceId);
    if (!only) {
      // Several nodes: this node sees only its own sessions; the device may be connected to another.
      const where = this.#cluster ? 'is not connected to this hub node (it may be to another)' : 'is not connected';
      throw new HubError(
        'tenant_required',
        `device '${deviceId}' ${where}; name its tenant to queue work for it ('?tenant_id=' over REST, 'tenantId' in code)`,
      );
    }
    if (others.length > 0)
      throw new HubError(
        'ambiguous_device',
        `device '${deviceId}' is connected in ${others.length + 1} tenants; name its tenant ('?tenant_id=' over REST, 'tenantId' in code)`,
      );
    return only.info.tenant_id;
  }
}

/** What `stored` is when the queue has nothing to write (memory): settled already, one for every handle. */
const STORED: Promise<void> = Promise.resolve();

const UNDELIVERED = { status: 'undelivered', reason: 'resume_window_passed' } as const;

function pick(who: Who): Who {
  return { tenant_id: who.tenant_id, device_id: who.device_id };
}

function isTerminalEvent(type: MessageOf<'execution_event'>['event_type']): boolean {
  return type === 'completed' || type === 'failed' || type === 'cancelled' || type === 'timed_out';
}

function isEnded(snapshot: ExecutionSnapshot): boolean {
  return ['completed', 'failed', 'cancelled', 'timed_out', 'undelivered'].includes(snapshot.status);
}
