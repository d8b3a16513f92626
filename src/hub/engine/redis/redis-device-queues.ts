import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../log/logger.ts';
import { getOrCreate } from '../../../util/get-or-create.ts';
import { HubError } from '../../core/errors.ts';
import { type DeviceJournal, DeviceQueue, type QueuedMessage, type ReliableDeviceMessage } from '../../delivery/device-queue.ts';
import type { DeviceQueues } from '../../delivery/device-queues.ts';
import { defineScript, type RedisScript } from './redis-client.ts';
import type { RedisKeys } from './redis-keys.ts';
import { WriteThrough } from './write-through.ts';

type Who = { tenant_id: string; device_id: string };

/** An entry as Redis keeps it; its `seq` is its score among the unacknowledged. */
interface StoredEntry {
  message: ReliableDeviceMessage;
  enqueuedAt: number;
  returned?: true;
}

// KEYS m w queues; ARGV id entry atFront device
const ENQUEUE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('LPUSH', KEYS[2], ARGV[1]) else redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('SADD', KEYS[3], ARGV[4])
return 1`;

// KEYS m w u s; ARGV id seq entry. The seq is the next one of this queue, or nothing changes.
const SEND = `
local last = tonumber(redis.call('HGET', KEYS[4], 'seq') or '0')
if last + 1 ~= tonumber(ARGV[2]) then return redis.error_reply('seq ' .. ARGV[2] .. ' does not follow the stored ' .. last) end
redis.call('HSET', KEYS[4], 'seq', ARGV[2])
redis.call('LREM', KEYS[2], 1, ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

// KEYS m u; ARGV seq
const ACK = `
local ids = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[1], 'BYSCORE')
for _, id in ipairs(ids) do redis.call('HDEL', KEYS[1], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
return #ids`;

// KEYS m w u; ARGV id entry before
const RETURNED = `
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' and redis.call('LINSERT', KEYS[2], 'BEFORE', ARGV[3], ARGV[1]) > 0 then return 1 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1`;

// KEYS m w u s; ARGV expired id...
const REMOVED = `
for i = 2, #ARGV do
  redis.call('LREM', KEYS[2], 1, ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
if tonumber(ARGV[1]) > 0 then redis.call('HINCRBY', KEYS[4], 'expired', ARGV[1]) end
return 1`;

// KEYS epoch; ARGV fresh
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

interface Scripts {
  enqueue: RedisScript;
  send: RedisScript;
  ack: RedisScript;
  returned: RedisScript;
  removed: RedisScript;
  epoch: RedisScript;
}

const SEP = '\u0000';

/** One queue's journal in Redis: each change one script, issued in order on the engine's connection. */
class RedisDeviceJournal implements DeviceJournal {
  readonly #writes: WriteThrough;
  readonly #keys: { m: string; w: string; u: string; s: string };

  constructor(
    readonly client: Redis,
    readonly scripts: Scripts,
    keys: RedisKeys,
    readonly device: string,
    logger: Logger,
  ) {
    this.#keys = keys.queue(device);
    this.#writes = new WriteThrough(logger, 'device queue');
    this.queuesKey = keys.queues;
  }

  readonly queuesKey: string;

  enqueued(entry: QueuedMessage, atFront: boolean): void {
    const { m, w } = this.#keys;
    this.#writes.issue(this.scripts.enqueue([m, w, this.queuesKey], [entry.id, stored(entry), atFront ? '1' : '0', this.device]));
  }

  sent(entry: QueuedMessage): void {
    const { m, w, u, s } = this.#keys;
    this.#writes.issue(this.scripts.send([m, w, u, s], [entry.id, entry.seq, stored(entry)]));
  }

  acked(seq: number): void {
    const { m, u } = this.#keys;
    this.#writes.issue(this.scripts.ack([m, u], [seq]));
  }

  returned(entry: QueuedMessage, before: string | undefined): void {
    const { m, w, u } = this.#keys;
    this.#writes.issue(this.scripts.returned([m, w, u], [entry.id, stored(entry), before ?? '']));
  }

  removed(ids: string[], expired: number): void {
    const { m, w, u, s } = this.#keys;
    this.#writes.issue(this.scripts.removed([m, w, u, s], [expired, ...ids]));
  }

  expiredTold(): void {
    this.#writes.issue(this.client.hset(this.#keys.s, 'expired', 0));
  }

  settled(): Promise<void> | undefined {
    return this.#writes.settled();
  }
}

function stored(entry: QueuedMessage): string {
  const value: StoredEntry = { message: entry.message, enqueuedAt: entry.enqueuedAt, ...(entry.returned && { returned: true as const }) };
  return JSON.stringify(value);
}

/**
 * The device queues kept in Redis: the queues themselves stay in this process (delivery's hot
 * path is synchronous), every change written through with one script (the sequence number
 * checked against the stored one in the same step), and a message sent only once its number is
 * stored. `open()` reads every queue back, with the delivery epoch, which is made once and kept:
 * a restarted hub answers a device's cursor `resumed`.
 *
 * @example
 * const queues = new RedisDeviceQueues(16, logger);
 * await queues.open(client, keys);
 * queues.of({ tenant_id: 'acme', device_id: 'laptop-1' }).enqueue(request, Date.now());
 */
export class RedisDeviceQueues implements DeviceQueues {
  readonly #queues = new Map<string, { who: Who; queue: DeviceQueue }>();
  readonly #defaultCredit: number;
  readonly #log: Logger;
  #epoch: string | undefined;
  #store: { client: Redis; scripts: Scripts; keys: RedisKeys } | undefined;

  constructor(defaultCredit: number, logger: Logger) {
    this.#defaultCredit = defaultCredit;
    this.#log = logger;
  }

  get epoch(): string {
    if (this.#epoch === undefined) throw new HubError('invalid_state', 'the Redis engine opens with listen()');
    return this.#epoch;
  }

  /** Reads back the epoch (made now when there is none) and every queue. */
  async open(client: Redis, keys: RedisKeys): Promise<void> {
    const scripts: Scripts = {
      enqueue: defineScript(client, 'ctQueueEnqueue', ENQUEUE),
      send: defineScript(client, 'ctQueueSend', SEND),
      ack: defineScript(client, 'ctQueueAck', ACK),
      returned: defineScript(client, 'ctQueueReturned', RETURNED),
      removed: defineScript(client, 'ctQueueRemoved', REMOVED),
      epoch: defineScript(client, 'ctDeliveryEpoch', EPOCH),
    };
    this.#epoch = String(await scripts.epoch([keys.epoch], [`hub_${randomUUID()}`]));
    this.#store = { client, scripts, keys };
    for (const device of await client.smembers(keys.queues)) {
      const [tenant_id, device_id] = device.split(SEP) as [string, string];
      const { m, w, u, s } = keys.queue(device);
      const [entries, waiting, unacked, state] = await Promise.all([
        client.hgetall(m),
        client.lrange(w, 0, -1),
        client.zrange(u, 0, -1, 'WITHSCORES'),
        client.hgetall(s),
      ]);
      const entryOf = (id: string, seq: number): QueuedMessage[] => {
        const text = entries[id];
        if (text === undefined) return [];
        const { message, enqueuedAt, returned } = JSON.parse(text) as StoredEntry;
        return [{ id, seq, message, enqueuedAt, ...(returned && { returned }) }];
      };
      const out: QueuedMessage[] = [];
      for (let i = 0; i + 1 < unacked.length; i += 2) out.push(...entryOf(unacked[i]!, Number(unacked[i + 1])));
      const queue = DeviceQueue.restore(
        this.#defaultCredit,
        {
          lastSeq: Number(state.seq ?? 0),
          waiting: waiting.flatMap((id) => entryOf(id, 0)),
          unacked: out,
          expired: Number(state.expired ?? 0),
        },
        new RedisDeviceJournal(client, scripts, keys, device, this.#log),
      );
      this.#queues.set(device, { who: { tenant_id, device_id }, queue });
    }
  }

  of(who: Who): DeviceQueue {
    const store = this.#store;
    if (!store) throw new HubError('invalid_state', 'the Redis engine opens with listen(): queue work once the hub listens');
    const device = `${who.tenant_id}${SEP}${who.device_id}`;
    return getOrCreate(this.#queues, device, () => ({
      who: { tenant_id: who.tenant_id, device_id: who.device_id },
      queue: new DeviceQueue(this.#defaultCredit, new RedisDeviceJournal(store.client, store.scripts, store.keys, device, this.#log)),
    })).queue;
  }

  all(): Array<{ who: Who; queue: DeviceQueue }> {
    return [...this.#queues.values()];
  }

  /** Resolves once every queue's writes so far are stored (or failed: logged). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.all().map(({ queue }) => queue.settled()));
  }
}
