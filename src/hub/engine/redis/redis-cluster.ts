import type { Redis } from 'ioredis';
import type { Logger } from '../../../log/logger.ts';
import type { ReliableDeviceMessage } from '../../delivery/device-queue.ts';
import { type ExecutionEventRecord, type ExecutionSnapshot, type ExecutionStatus, TERMINAL } from '../../delivery/executions.ts';
import type { Claimed, ClusterNote, Holder, HubCluster, Pulled } from '../cluster.ts';
import { getOrCreate } from '../../../util/get-or-create.ts';
import { connectRedis, defineScript, type RedisScript } from './redis-client.ts';
import { MAX_POKE_ENTRIES_CHARS, PRESENCE_RENEW_MS, PRESENCE_TTL_MS, type RedisDeviceQueues } from './redis-device-queues.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { WriteThrough } from './write-through.ts';

type Who = { tenant_id: string; device_id: string };

// KEYS copy...; ARGV ttl meta... The copies of the executions dispatched in one turn of the event
// loop, each made with its TTL. The same request id dispatched again (to another node, its first
// answer lost) keeps the copy it has: its origin, its status, its events.
const DISPATCHED = `
for i = 1, #KEYS do
  if redis.call('HSETNX', KEYS[i], 'meta', ARGV[i + 1]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 1`;

/** How long a request's origin and copy are kept: past any execution's life (a tool job times out in minutes). */
const ORIGIN_TTL_MS = 24 * 60 * 60 * 1000;
/** The events before the end an execution's copy keeps, the first ones (a long run's progress events are many); the end always. */
const MAX_STORED_EVENTS = 200;

/**
 * The notes to one channel in one turn of the event loop, as they travel: one `PUBLISH`, and the
 * node they came from. On the channel every node hears, `to` carries the turn's notes for single
 * nodes too (by node id), which then need no `PUBLISH` of their own.
 */
interface Wire {
  from: string;
  notes: ClusterNote[];
  to?: Record<string, ClusterNote[]>;
}

/**
 * The hub nodes on one Redis (docs/scaling.md, "Several nodes"): presence with a fence and the
 * device queues' inboxes ({@link RedisDeviceQueues}), and a broker on Redis pub/sub: each node
 * listens on its own channel and on one every node hears, on a second connection (a subscribed
 * connection runs no other command). Presence entries live {@link PRESENCE_TTL_MS} and are
 * renewed every {@link PRESENCE_RENEW_MS} by their holder, which also reads its devices' inboxes
 * then: a note lost on the way delays work, never loses it.
 *
 * @example
 * const cluster = new RedisCluster({ queues, keys, nodeId: 'node-a', writes, logger });
 * await cluster.open(client, 'redis://127.0.0.1:6379');
 * cluster.listen({ note: (note) => route(note), lost: (who) => closeSession(who) });
 */
export class RedisCluster implements HubCluster {
  readonly nodeId: string;
  readonly #queues: RedisDeviceQueues;
  readonly #keys: RedisKeys;
  readonly #writes: WriteThrough;
  readonly #log: Logger;
  #client: Redis | undefined;
  #dispatch: RedisScript | undefined;
  /** Copies to make (key, meta) at the end of this turn of the event loop: one script for all. */
  #copies: Array<[string, string]> | undefined;
  /** Events recorded in this turn of the event loop, by copy: one `HSET` each at its end. */
  #events: Map<string, string[]> | undefined;
  /** Notes to publish at the end of this turn of the event loop, by node (`undefined`: every node). */
  #outbox: Map<string | undefined, ClusterNote[]> | undefined;
  #subscriber: Redis | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #handlers: { note(note: ClusterNote): void; lost(who: Who): void } = { note: () => {}, lost: () => {} };
  /** Another node made a signing key: the engine reads the keys again. */
  #onKeys: () => void = () => {};

  constructor(options: { queues: RedisDeviceQueues; keys: RedisKeys; nodeId: string; writes: WriteThrough; logger: Logger }) {
    this.nodeId = options.nodeId;
    this.#queues = options.queues;
    this.#keys = options.keys;
    this.#writes = options.writes;
    this.#log = options.logger;
  }

  /** Subscribes to this node's channel and the shared one, and starts renewing presence. */
  async open(client: Redis, url: string): Promise<void> {
    this.#client = client;
    const subscriber = await connectRedis(url);
    this.#subscriber = subscriber;
    subscriber.on('message', (_channel: string, text: string) => this.#receive(text));
    await subscriber.subscribe(this.#keys.channel(this.nodeId), this.#keys.channel(undefined));
    this.#timer = setInterval(() => void this.#renew(), PRESENCE_RENEW_MS);
    this.#timer.unref();
  }

  /** Where a note that another node made a signing key goes (the engine's signing keys). */
  onKeys(handler: () => void): void {
    this.#onKeys = handler;
  }

  listen(handlers: { note(note: ClusterNote): void; lost(who: Who): void }): void {
    this.#handlers = handlers;
    this.#queues.clustered((who) => this.#lost(who));
  }

  async claim(who: Who, sessionId: string): Promise<Claimed> {
    const { previous, cancels } = await this.#queues.claim(who, sessionId, PRESENCE_TTL_MS);
    const holder = holderOf(previous);
    if (holder && holder.node !== this.nodeId) this.send(holder.node, { t: 'takeover', who: pick(who), session: holder.session });
    return { previous: holder, cancels };
  }

  release(who: Who, sessionId: string): Promise<void> {
    return this.#queues.release(who, sessionId);
  }

  holds(who: Who): boolean {
    return this.#queues.holds(who);
  }

  async append(who: Who, message: ReliableDeviceMessage, now: number, limit: number): Promise<boolean> {
    const { queued, holder, entry } = await this.#queues.append(who, message, now, limit);
    const node = holderOf(holder)?.node;
    if (queued && node !== undefined) {
      // The poke carries the work (the holder need not read it back), unless it is large.
      const poke: ClusterNote = { t: 'poke', who: pick(who), ...(entry[1].length <= MAX_POKE_ENTRIES_CHARS && { entries: [entry] }) };
      if (node === this.nodeId) this.#poke(poke);
      else this.send(node, poke);
    }
    return queued;
  }

  pull(who: Who): Promise<Pulled> {
    return this.#queues.pull(who);
  }

  send(node: string, note: ClusterNote): void {
    this.#publish(node, note);
  }

  broadcast(note: ClusterNote): void {
    this.#publish(undefined, note);
  }

  dispatched(requestId: string, who: Who, jobType: string, now: number): void {
    const meta: CopyMeta = { node: this.nodeId, tenant_id: who.tenant_id, device_id: who.device_id, job_type: jobType, created_at: now };
    const entry: [string, string] = [this.#keys.execution(requestId), JSON.stringify(meta)];
    if (this.#copies) return void this.#copies.push(entry);
    this.#copies = [entry];
    // Issued before the queue's write of the same turn (scheduled after this): an event never finds no copy.
    setImmediate(() => this.#flushCopies());
  }

  #flushCopies(): void {
    const copies = this.#copies;
    this.#copies = undefined;
    if (!copies) return;
    this.#writes.run((client) =>
      (this.#dispatch ??= defineScript(client, 'ctDispatched3', DISPATCHED))(
        copies.map(([key]) => key),
        [ORIGIN_TTL_MS, ...copies.map(([, value]) => value)],
      ),
    );
  }

  /** Issues now what waits for the end of this turn of the event loop (copies to make, notes to send): before a close. */
  flush(): void {
    this.#flushCopies();
    this.#flushEvents();
    if (this.#outbox) this.#flushNotes(this.#outbox);
  }

  /** One `SET NX PX` per id: the first node to ask stores it. */
  async firstSeen(who: Who, id: string): Promise<boolean> {
    const client = this.#client;
    if (!client) return true;
    return (await client.set(this.#keys.seen(`${who.tenant_id}\u0000${who.device_id}`, id), '1', 'PX', ORIGIN_TTL_MS, 'NX')) === 'OK';
  }

  async holderOf(who: Who): Promise<Holder | undefined> {
    const client = this.#client;
    if (!client) return undefined;
    return holderOf((await client.get(this.#keys.presence(`${who.tenant_id}\u0000${who.device_id}`).p)) ?? '');
  }

  /**
   * An event is a field named by its id, so the same event recorded again (resent by the device,
   * to this node or another) is kept once: the events of one execution in one turn of the event
   * loop are one `HSET` (a device's frames of one execution usually come in one read). The end is
   * field `end`, written by `HSETNX` after them, so an execution keeps one end, the first. Past
   * {@link MAX_STORED_EVENTS} events only the end is kept.
   */
  recorded(snapshot: ExecutionSnapshot, event: ExecutionEventRecord | undefined): void {
    const key = this.#keys.execution(snapshot.request_id);
    if (!TERMINAL.has(snapshot.status)) {
      if (!event || snapshot.events.length > MAX_STORED_EVENTS) return;
      const value = JSON.stringify({ ...event, n: snapshot.events.length - 1 });
      if (!this.#events) {
        this.#events = new Map();
        setImmediate(() => this.#flushEvents());
      }
      getOrCreate(this.#events, key, () => []).push(`ev:${event.event_id}`, value);
      return;
    }
    const end = JSON.stringify(event ? { status: snapshot.status, at: snapshot.updated_at, event } : endOf(snapshot));
    const before = this.#events?.get(key);
    if (before) {
      this.#events!.delete(key);
      this.#writes.run((client) => client.hset(key, ...before));
    }
    this.#writes.run((client) => client.hsetnx(key, 'end', end));
  }

  #flushEvents(): void {
    const events = this.#events;
    this.#events = undefined;
    if (!events) return;
    for (const [key, fields] of events) this.#writes.run((client) => client.hset(key, ...fields));
  }

  async snapshotOf(requestId: string): Promise<ExecutionSnapshot | undefined> {
    const client = this.#client;
    if (!client) return undefined;
    return copyOf(requestId, await client.hgetall(this.#keys.execution(requestId)));
  }

  async originOf(
    requestId: string,
    eventId?: string,
  ): Promise<{ who: Who; node: string; job_type: string; recorded: boolean } | undefined> {
    const client = this.#client;
    if (!client) return undefined;
    const [text, event, end] = await client.hmget(this.#keys.execution(requestId), 'meta', `ev:${eventId ?? ''}`, 'end');
    if (!text) return undefined;
    const meta = JSON.parse(text) as CopyMeta;
    const ended = end ? (JSON.parse(end) as CopyEnd).event?.event_id : undefined;
    const recorded = eventId !== undefined && (Boolean(event) || ended === eventId);
    return { who: { tenant_id: meta.tenant_id, device_id: meta.device_id }, node: meta.node, job_type: meta.job_type, recorded };
  }

  /** Stops renewing and unsubscribes. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const subscriber = this.#subscriber;
    if (subscriber?.status === 'ready') await subscriber.quit().catch(() => subscriber.disconnect());
    else subscriber?.disconnect();
  }

  /** Drops the broker's connection at once, nothing flushed (a node that dies; tests). */
  crash(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#subscriber?.disconnect();
  }

  /**
   * Queues a note for one node's channel; the notes of one turn of the event loop go out together,
   * in order, one `PUBLISH` a channel (pokes, forwarded events, usage bookings: many per execution
   * under load). Any other note to every node (rare: revocations, settings, keys) goes out at once,
   * as its own: a signing key's note held to the end of the turn lets tokens signed with it reach
   * the other nodes first.
   */
  #publish(node: string | undefined, note: ClusterNote): void {
    const client = this.#client;
    if (!client) return;
    if (note.t !== 'usage' && node === undefined) {
      const wire: Wire = { from: this.nodeId, notes: [note] };
      client
        .publish(this.#keys.channel(undefined), JSON.stringify(wire))
        .catch((error: unknown) => this.#log.warn({ err: error, note: note.t }, 'cannot send a note'));
      return;
    }
    if (!this.#outbox) {
      const outbox = new Map<string | undefined, ClusterNote[]>();
      this.#outbox = outbox;
      setImmediate(() => this.#flushNotes(outbox));
    }
    getOrCreate(this.#outbox, node, () => []).push(note);
  }

  #flushNotes(outbox: Map<string | undefined, ClusterNote[]>): void {
    // Sent already (a flush before a close).
    if (this.#outbox !== outbox) return;
    this.#outbox = undefined;
    const client = this.#client;
    if (!client) return;
    const publish = (channel: string, wire: Wire, count: number) =>
      client
        .publish(channel, JSON.stringify(wire))
        .catch((error: unknown) => this.#log.warn({ err: error, notes: count }, 'cannot send a note'));
    const everyNode = outbox.get(undefined);
    // A turn with notes for every node (usage bookings) carries its notes for single nodes along: one PUBLISH in all.
    if (everyNode) {
      const to: Record<string, ClusterNote[]> = {};
      let count = everyNode.length;
      for (const [node, notes] of outbox) {
        if (node === undefined) continue;
        to[node] = notes;
        count += notes.length;
      }
      return void publish(
        this.#keys.channel(undefined),
        { from: this.nodeId, notes: everyNode, ...(count > everyNode.length && { to }) },
        count,
      );
    }
    for (const [node, notes] of outbox) publish(this.#keys.channel(node), { from: this.nodeId, notes }, notes.length);
  }

  #receive(text: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(text) as Wire;
    } catch {
      this.#log.warn('a broker note that is not JSON was dropped');
      return;
    }
    if (!Array.isArray(wire.notes)) return;
    // The shared channel carries this node's own broadcasts too: applied here already. Not a channel
    // message: the history's append announces it to every node, this one too (redis-channel-history.ts).
    const own = wire.from === this.nodeId;
    const mine = wire.to?.[this.nodeId];
    const notes = Array.isArray(mine) ? [...wire.notes, ...mine] : wire.notes;
    for (const note of notes) {
      if (own && note.t !== 'publish') continue;
      if (note.t === 'keys') {
        this.#onKeys();
        continue;
      }
      try {
        if (note.t === 'poke') this.#poke(note);
        else this.#handlers.note(note);
      } catch (error) {
        this.#log.error({ err: error, note: note.t }, 'a broker note could not be applied');
      }
    }
  }

  /** A poke for a device held here: the entries it carries (none: the inbox is read) go to the queue's next pull. */
  #poke(note: Extract<ClusterNote, { t: 'poke' }>): void {
    const entries = Array.isArray(note.entries) ? note.entries.filter(isEntry) : undefined;
    this.#queues.poked(note.who, entries);
    this.#handlers.note({ t: 'poke', who: pick(note.who) });
  }

  async #renew(): Promise<void> {
    try {
      const { lost, waiting } = await this.#queues.renew(PRESENCE_TTL_MS);
      for (const who of lost) this.#lost(who);
      for (const who of waiting) this.#handlers.note({ t: 'poke', who });
    } catch (error) {
      this.#log.warn({ err: error }, 'cannot renew the presence of held devices');
    }
  }

  #lost(who: Who): void {
    if (!this.#queues.holds(who)) return;
    this.#queues.lost(who);
    this.#log.warn({ ...who, node: this.nodeId }, 'another hub node holds the device now; closing its session here');
    this.#handlers.lost(who);
  }
}

/** Who dispatched an execution, where: its copy's field `meta`. */
interface CopyMeta {
  node: string;
  tenant_id: string;
  device_id: string;
  job_type: string;
  created_at: number;
}

/** An execution's end in its copy (field `end`): the device's terminal event, or the hub's end (`data`). */
interface CopyEnd {
  status: ExecutionStatus;
  at: number;
  event?: ExecutionEventRecord;
  data?: Record<string, unknown>;
}

function endOf(snapshot: ExecutionSnapshot): CopyEnd {
  return { status: snapshot.status, at: snapshot.updated_at, ...(snapshot.outcome !== undefined && { data: snapshot.outcome }) };
}

/**
 * An execution as its copy keeps it: its events in the order they were received, the end last;
 * its status the end's, else what its events say (as {@link ExecutionStore} moves it).
 */
function copyOf(requestId: string, fields: Record<string, string>): ExecutionSnapshot | undefined {
  if (fields.meta === undefined) return undefined;
  const meta = JSON.parse(fields.meta) as CopyMeta;
  const events: Array<ExecutionEventRecord & { n?: number }> = [];
  for (const [field, text] of Object.entries(fields)) if (field.startsWith('ev:')) events.push(JSON.parse(text) as ExecutionEventRecord);
  events.sort((a, b) => (a.received_at ?? 0) - (b.received_at ?? 0) || (a.n ?? 0) - (b.n ?? 0));
  const end = fields.end === undefined ? undefined : (JSON.parse(fields.end) as CopyEnd);
  const kept: ExecutionEventRecord[] = events.map(({ n: _n, ...event }) => event);
  if (end?.event) kept.push(end.event);
  const types = new Set(kept.map((event) => event.event_type));
  const status: ExecutionStatus =
    end?.status ?? (types.has('started') || types.has('progress') ? 'running' : types.has('accepted') ? 'accepted' : 'queued');
  const outcome = end?.event?.data ?? end?.data;
  return {
    request_id: requestId,
    device_id: meta.device_id,
    tenant_id: meta.tenant_id,
    job_type: meta.job_type as ExecutionSnapshot['job_type'],
    status,
    created_at: meta.created_at,
    updated_at: Math.max(meta.created_at, end?.at ?? 0, ...kept.map((event) => event.received_at ?? 0)),
    events: kept,
    ...(outcome !== undefined && { outcome }),
  };
}

function holderOf(value: string): Holder | undefined {
  const bar = value.lastIndexOf('|');
  if (bar <= 0) return undefined;
  return { node: value.slice(0, bar), session: value.slice(bar + 1) };
}

/** An entry as a poke carries it: its id and its stored JSON. */
function isEntry(entry: unknown): entry is [string, string] {
  return Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'string';
}

function pick(who: Who): Who {
  return { tenant_id: who.tenant_id, device_id: who.device_id };
}
