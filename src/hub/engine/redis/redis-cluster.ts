import type { Redis } from 'ioredis';
import type { Logger } from '../../../log/logger.ts';
import type { ReliableDeviceMessage } from '../../delivery/device-queue.ts';
import type { ExecutionEventRecord, ExecutionSnapshot, ExecutionStatus } from '../../delivery/executions.ts';
import type { Claimed, ClusterNote, Holder, HubCluster, Pulled } from '../cluster.ts';
import { connectRedis, defineScript, type RedisScript } from './redis-client.ts';
import { PRESENCE_RENEW_MS, PRESENCE_TTL_MS, type RedisDeviceQueues } from './redis-device-queues.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { WriteThrough } from './write-through.ts';

type Who = { tenant_id: string; device_id: string };

// KEYS copy; ARGV ttl field value... The same request id dispatched again (to another node, its
// first answer lost) keeps the copy it has: its origin, its status, its events.
const DISPATCHED = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

// KEYS copy events; ARGV ttl max event field value... An ended copy takes nothing more: the device
// resends an end the node that died recorded but never acknowledged, and it must not count twice.
const RECORD = `
local ended = { completed = true, failed = true, cancelled = true, timed_out = true, undelivered = true }
local status = redis.call('HGET', KEYS[1], 'status')
if status and ended[status] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 1`;

/** How long a request's origin and copy are kept: past any execution's life (a tool job times out in minutes). */
const ORIGIN_TTL_MS = 24 * 60 * 60 * 1000;
/** The events of an execution its copy keeps, the last ones (a long run's progress events are many). */
const MAX_STORED_EVENTS = 200;

/** A note as it travels: the note and the node it came from. */
type Wire = ClusterNote & { from: string };

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
  #record: RedisScript | undefined;
  #dispatch: RedisScript | undefined;
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
    const { queued, holder } = await this.#queues.append(who, message, now, limit);
    const node = holderOf(holder)?.node;
    if (queued && node !== undefined) {
      if (node === this.nodeId) this.#handlers.note({ t: 'poke', who: pick(who) });
      else this.send(node, { t: 'poke', who: pick(who) });
    }
    return queued;
  }

  pull(who: Who): Promise<Pulled> {
    return this.#queues.pull(who);
  }

  send(node: string, note: ClusterNote): void {
    this.#publish(this.#keys.channel(node), note);
  }

  broadcast(note: ClusterNote): void {
    this.#publish(this.#keys.channel(undefined), note);
  }

  dispatched(requestId: string, who: Who, jobType: string, now: number): void {
    const key = this.#keys.execution(requestId);
    const fields = {
      node: this.nodeId,
      tenant_id: who.tenant_id,
      device_id: who.device_id,
      job_type: jobType,
      status: 'queued',
      created_at: String(now),
      updated_at: String(now),
    };
    this.#writes.run((client) =>
      (this.#dispatch ??= defineScript(client, 'ctDispatched', DISPATCHED))([key], [ORIGIN_TTL_MS, ...Object.entries(fields).flat()]),
    );
  }

  async holderOf(who: Who): Promise<Holder | undefined> {
    const client = this.#client;
    if (!client) return undefined;
    return holderOf((await client.get(this.#keys.presence(`${who.tenant_id}\u0000${who.device_id}`).p)) ?? '');
  }

  recorded(snapshot: ExecutionSnapshot, event: ExecutionEventRecord | undefined): void {
    const key = this.#keys.execution(snapshot.request_id);
    const events = `${key}:events`;
    const fields: Record<string, string> = {
      tenant_id: snapshot.tenant_id,
      device_id: snapshot.device_id,
      job_type: snapshot.job_type,
      status: snapshot.status,
      created_at: String(snapshot.created_at),
      updated_at: String(snapshot.updated_at),
      ...(snapshot.outcome !== undefined && { outcome: JSON.stringify(snapshot.outcome) }),
    };
    this.#writes.run((client) =>
      (this.#record ??= defineScript(client, 'ctRecordExecution', RECORD))(
        [key, events],
        [ORIGIN_TTL_MS, MAX_STORED_EVENTS, event ? JSON.stringify(event) : '', ...Object.entries(fields).flat()],
      ),
    );
  }

  async snapshotOf(requestId: string): Promise<ExecutionSnapshot | undefined> {
    const client = this.#client;
    if (!client) return undefined;
    const key = this.#keys.execution(requestId);
    const [fields, events] = await Promise.all([client.hgetall(key), client.lrange(`${key}:events`, 0, -1)]);
    if (!fields.tenant_id || !fields.device_id) return undefined;
    return {
      request_id: requestId,
      device_id: fields.device_id,
      tenant_id: fields.tenant_id,
      job_type: (fields.job_type ?? 'tool') as ExecutionSnapshot['job_type'],
      status: (fields.status ?? 'queued') as ExecutionStatus,
      created_at: Number(fields.created_at ?? 0),
      updated_at: Number(fields.updated_at ?? 0),
      events: events.map((text) => JSON.parse(text) as ExecutionEventRecord),
      ...(fields.outcome !== undefined && { outcome: JSON.parse(fields.outcome) as Record<string, unknown> }),
    };
  }

  async originOf(requestId: string): Promise<{ who: Who; node: string; job_type: string } | undefined> {
    const client = this.#client;
    if (!client) return undefined;
    const fields = await client.hgetall(this.#keys.execution(requestId));
    if (!fields.node || !fields.tenant_id || !fields.device_id) return undefined;
    return { who: { tenant_id: fields.tenant_id, device_id: fields.device_id }, node: fields.node, job_type: fields.job_type ?? 'tool' };
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

  #publish(channel: string, note: ClusterNote): void {
    const client = this.#client;
    if (!client) return;
    const wire: Wire = { ...note, from: this.nodeId };
    client
      .publish(channel, JSON.stringify(wire))
      .catch((error: unknown) => this.#log.warn({ err: error, note: note.t }, 'cannot send a note'));
  }

  #receive(text: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(text) as Wire;
    } catch {
      this.#log.warn('a broker note that is not JSON was dropped');
      return;
    }
    // The shared channel carries this node's own broadcasts too: applied here already. Not a channel
    // message: the history's append announces it to every node, this one too (redis-channel-history.ts).
    if (wire.from === this.nodeId && wire.t !== 'publish') return;
    const { from: _from, ...note } = wire;
    if (note.t === 'keys') return this.#onKeys();
    try {
      this.#handlers.note(note as ClusterNote);
    } catch (error) {
      this.#log.error({ err: error, note: note.t }, 'a broker note could not be applied');
    }
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

function holderOf(value: string): Holder | undefined {
  const bar = value.lastIndexOf('|');
  if (bar <= 0) return undefined;
  return { node: value.slice(0, bar), session: value.slice(bar + 1) };
}

function pick(who: Who): Who {
  return { tenant_id: who.tenant_id, device_id: who.device_id };
}
