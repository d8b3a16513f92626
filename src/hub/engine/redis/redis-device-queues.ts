import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../../log/logger.ts';
import { getOrCreate } from '../../../util/get-or-create.ts';
import { HubError, isStaleHolder, StaleHolderError } from '../../core/errors.ts';
import { type DeviceJournal, DeviceQueue, entryId, type QueuedMessage, type ReliableDeviceMessage } from '../../delivery/device-queue.ts';
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
  /** The node that queued it. */
  origin?: string;
}

/**
 * Refuses a write of a node that no longer holds the device: its fence (`ARGV[1]`) is not the
 * device's (`KEYS[#KEYS]`). An empty fence writes unfenced (a queue no node claimed).
 */
const FENCE = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[#KEYS]) ~= ARGV[1] then
  return redis.error_reply('FENCED the device is held by another hub node')
end
`;

// KEYS m w queues i f; ARGV fence id entry atFront device. A stale holder's entry goes to the
// inbox instead, for the node that holds the device now: nothing queued is lost.
const ENQUEUE = `
local stale = ARGV[1] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[1]
local list = KEYS[2]
if stale then list = KEYS[4] end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if ARGV[4] == '1' then redis.call('LPUSH', list, ARGV[2]) else redis.call('RPUSH', list, ARGV[2]) end
redis.call('SADD', KEYS[3], ARGV[5])
if stale then return 0 end
return 1`;

// KEYS m w u s f; ARGV fence id seq entry. The seq is the next one of this queue, or nothing changes.
// The same send again is done already: ioredis resends a command whose reply a reconnect lost.
const SEND = `${FENCE}
local last = tonumber(redis.call('HGET', KEYS[4], 'seq') or '0')
if last == tonumber(ARGV[3]) and redis.call('ZSCORE', KEYS[3], ARGV[2]) == ARGV[3] then return 1 end
if last + 1 ~= tonumber(ARGV[3]) then return redis.error_reply('seq ' .. ARGV[3] .. ' does not follow the stored ' .. last) end
redis.call('HSET', KEYS[4], 'seq', ARGV[3])
redis.call('LREM', KEYS[2], 1, ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
return 1`;

// KEYS m u f; ARGV fence seq
const ACK = `${FENCE}
local ids = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[2], 'BYSCORE')
for _, id in ipairs(ids) do redis.call('HDEL', KEYS[1], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
return #ids`;

// KEYS m w u f; ARGV fence id entry before
const RETURNED = `${FENCE}
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if ARGV[4] ~= '' and redis.call('LINSERT', KEYS[2], 'BEFORE', ARGV[4], ARGV[2]) > 0 then return 1 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1`;

// KEYS m w u s f; ARGV fence expired id...
const REMOVED = `${FENCE}
for i = 3, #ARGV do
  redis.call('LREM', KEYS[2], 1, ARGV[i])
  redis.call('ZREM', KEYS[3], ARGV[i])
  redis.call('HDEL', KEYS[1], ARGV[i])
end
if tonumber(ARGV[2]) > 0 then redis.call('HINCRBY', KEYS[4], 'expired', ARGV[2]) end
return 1`;

// KEYS s f; ARGV fence
const EXPIRED_TOLD = `${FENCE}
redis.call('HSET', KEYS[1], 'expired', 0)
return 1`;

// KEYS epoch; ARGV fresh
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

/** Moves the inbox (KEYS[1]) to the waiting list (KEYS[2]): cancels first, the rest in order. Returns the ids moved. */
const TAKE_INBOX = `
local function takeInbox(inbox, waiting)
  local ids = redis.call('LRANGE', inbox, 0, -1)
  if #ids == 0 then return ids end
  redis.call('DEL', inbox)
  for _, id in ipairs(ids) do
    if string.sub(id, 1, 2) == 'c.' then redis.call('LPUSH', waiting, id) else redis.call('RPUSH', waiting, id) end
  end
  return ids
end
`;

// KEYS p f m w u s i; ARGV holder ttl. The device is this node's from now on: the presence entry
// names it, the fence moves on (the previous holder's writes are refused), the inbox joins the
// waiting list, and the queue is read back, all in one step.
const CLAIM = `${TAKE_INBOX}
local previous = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local fence = redis.call('INCR', KEYS[2])
local taken = takeInbox(KEYS[7], KEYS[4])
return { previous, fence, redis.call('HGETALL', KEYS[3]), redis.call('LRANGE', KEYS[4], 0, -1),
  redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[6]), taken }`;

// KEYS i w m f; ARGV fence. The holder takes what other nodes queued: the ids with their entries.
const PULL = `${TAKE_INBOX}${FENCE}
local ids = takeInbox(KEYS[1], KEYS[2])
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
end
return out`;

// KEYS m i w u queues p; ARGV id entry atFront device limit. Work queued by a node that does not
// hold the device: refused past the limit, else in the inbox; answers who holds the device.
const APPEND = `
if redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then return { 0, '' } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('LPUSH', KEYS[2], ARGV[1]) else redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('SADD', KEYS[5], ARGV[4])
return { 1, redis.call('GET', KEYS[6]) or '' }`;

// KEYS p i; ARGV holder ttl. -1 when the device is no longer this holder's, else how many wait in its inbox.
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('LLEN', KEYS[2])`;

// KEYS p; ARGV holder
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

interface Scripts {
  enqueue: RedisScript;
  send: RedisScript;
  ack: RedisScript;
  returned: RedisScript;
  removed: RedisScript;
  expiredTold: RedisScript;
  epoch: RedisScript;
  claim: RedisScript;
  pull: RedisScript;
  append: RedisScript;
  renew: RedisScript;
  release: RedisScript;
}

const SEP = '\u0000';

/** A queue journal's place in the store, and the fence it writes under ('' for a queue no node claimed). */
interface JournalPlace {
  client: Redis;
  scripts: Scripts;
  keys: RedisKeys;
  device: string;
  fence: string;
  node: string;
  /** A write found the device held by another node. */
  stale(): void;
}

/** One queue's journal in Redis: each change one script, issued in order on the engine's connection. */
class RedisDeviceJournal implements DeviceJournal {
  readonly #writes: WriteThrough;
  readonly #keys: { m: string; w: string; u: string; s: string; i: string };
  readonly #f: string;
  readonly #place: JournalPlace;

  constructor(place: JournalPlace, logger: Logger) {
    this.#place = place;
    this.#keys = place.keys.queue(place.device);
    this.#f = place.keys.presence(place.device).f;
    this.#writes = new WriteThrough(logger, 'device queue');
  }

  /** Issues a write; one refused by the fence tells the queue's owner that the device is held elsewhere. */
  #issue(write: Promise<unknown>): void {
    this.#writes.issue(
      write.catch((error: unknown) => {
        if (isStaleHolder(error)) this.#place.stale();
        throw error;
      }),
    );
  }

  enqueued(entry: QueuedMessage, atFront: boolean): void {
    const { m, w, i } = this.#keys;
    const { scripts, keys, fence, device } = this.#place;
    this.#issue(
      scripts
        .enqueue([m, w, keys.queues, i, this.#f], [fence, entry.id, this.#stored(entry), atFront ? '1' : '0', device])
        .then((fresh) => {
          if (fresh === 0) this.#place.stale();
        }),
    );
  }

  sent(entry: QueuedMessage): void {
    const { m, w, u, s } = this.#keys;
    this.#issue(this.#place.scripts.send([m, w, u, s, this.#f], [this.#place.fence, entry.id, entry.seq, this.#stored(entry)]));
  }

  acked(seq: number): void {
    const { m, u } = this.#keys;
    this.#issue(this.#place.scripts.ack([m, u, this.#f], [this.#place.fence, seq]));
  }

  returned(entry: QueuedMessage, before: string | undefined): void {
    const { m, w, u } = this.#keys;
    this.#issue(this.#place.scripts.returned([m, w, u, this.#f], [this.#place.fence, entry.id, this.#stored(entry), before ?? '']));
  }

  removed(ids: string[], expired: number): void {
    const { m, w, u, s } = this.#keys;
    this.#issue(this.#place.scripts.removed([m, w, u, s, this.#f], [this.#place.fence, expired, ...ids]));
  }

  expiredTold(): void {
    this.#issue(this.#place.scripts.expiredTold([this.#keys.s, this.#f], [this.#place.fence]));
  }

  settled(): Promise<void> | undefined {
    return this.#writes.settled();
  }

  #stored(entry: QueuedMessage): string {
    return stored(entry, this.#place.node);
  }
}

function stored(entry: QueuedMessage, node: string): string {
  const value: StoredEntry = {
    message: entry.message,
    enqueuedAt: entry.enqueuedAt,
    ...(entry.returned && { returned: true as const }),
    origin: entry.origin ?? node,
  };
  return JSON.stringify(value);
}

/** An entry read back from its stored JSON. */
function entryOf(id: string, seq: number, text: string | undefined): QueuedMessage[] {
  if (text === undefined || text === '') return [];
  const { message, enqueuedAt, returned, origin } = JSON.parse(text) as StoredEntry;
  return [{ id, seq, message, enqueuedAt, ...(returned && { returned }), ...(origin !== undefined && { origin }) }];
}

/** A flat `[field, value, …]` reply as a record. */
function recordOf(flat: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return record;
}

/** The queue state of a read-back: entries by id, the waiting ids, `[id, seq, …]` of the unacknowledged, and `s`. */
function stateOf(entries: Record<string, string>, waiting: readonly string[], unacked: readonly string[], state: Record<string, string>) {
  const out: QueuedMessage[] = [];
  for (let i = 0; i + 1 < unacked.length; i += 2) out.push(...entryOf(unacked[i]!, Number(unacked[i + 1]), entries[unacked[i]!]));
  return {
    lastSeq: Number(state.seq ?? 0),
    waiting: waiting.flatMap((id) => entryOf(id, 0, entries[id])),
    unacked: out,
    expired: Number(state.expired ?? 0),
  };
}

/** How long a presence entry lives without renewal, and how often its holder renews it. */
export const PRESENCE_TTL_MS = 15_000;
export const PRESENCE_RENEW_MS = 5_000;

/** A device this node holds: the session it holds it for, and the fence its writes go under once claimed. */
interface Hold {
  session: string;
  fence: string | undefined;
}

/**
 * The device queues kept in Redis: the queues themselves stay in this process (delivery's hot
 * path is synchronous), every change written through with one script (the sequence number
 * checked against the stored one in the same step), and a message sent only once its number is
 * stored. `open()` reads back the delivery epoch, which is made once and kept (a restarted hub
 * answers a device's cursor `resumed`), and the queues of devices no node holds.
 *
 * With several hub nodes on one Redis, a queue is kept by the node holding its device's session
 * ({@link RedisDeviceQueues.claim}): the claim moves the device's fence on, and every write of a
 * queue carries the fence it was claimed under, so a node that lost the device can no longer
 * change it. Other nodes queue work in its inbox ({@link RedisDeviceQueues.append}), which the
 * holder takes ({@link RedisDeviceQueues.pull}).
 *
 * @example
 * const queues = new RedisDeviceQueues(16, logger, 'node-a');
 * await queues.open(client, keys);
 * await queues.claim({ tenant_id: 'acme', device_id: 'laptop-1' }, sessionId);
 * queues.of({ tenant_id: 'acme', device_id: 'laptop-1' }).enqueue(request, Date.now());
 */
export class RedisDeviceQueues implements DeviceQueues {
  readonly #queues = new Map<string, { who: Who; queue: DeviceQueue }>();
  readonly #held = new Map<string, Hold>();
  readonly #defaultCredit: number;
  readonly #log: Logger;
  readonly #node: string;
  #epoch: string | undefined;
  #store: { client: Redis; scripts: Scripts; keys: RedisKeys } | undefined;
  /** Told when a write finds a held device held elsewhere now. */
  #onStale: (who: Who) => void = () => {};
  /** A hub serves from these queues with other nodes: only held queues are written. */
  #clustered = false;

  constructor(defaultCredit: number, logger: Logger, node = 'node') {
    this.#defaultCredit = defaultCredit;
    this.#log = logger;
    this.#node = node;
  }

  get epoch(): string {
    if (this.#epoch === undefined) throw new HubError('invalid_state', 'the Redis engine opens with listen()');
    return this.#epoch;
  }

  /**
   * A hub serves from these queues beside other nodes: from now on a device this node does not
   * hold gets a queue that writes nothing (its holder's is the one), and `handler` hears of a
   * held device that turned out held elsewhere.
   */
  clustered(handler: (who: Who) => void): void {
    this.#clustered = true;
    this.#onStale = handler;
  }

  /** Reads back the epoch (made now when there is none) and the queue of every device no node holds. */
  async open(client: Redis, keys: RedisKeys): Promise<void> {
    const scripts: Scripts = {
      enqueue: defineScript(client, 'ctQueueEnqueue2', ENQUEUE),
      send: defineScript(client, 'ctQueueSend2', SEND),
      ack: defineScript(client, 'ctQueueAck2', ACK),
      returned: defineScript(client, 'ctQueueReturned2', RETURNED),
      removed: defineScript(client, 'ctQueueRemoved2', REMOVED),
      expiredTold: defineScript(client, 'ctQueueExpiredTold', EXPIRED_TOLD),
      epoch: defineScript(client, 'ctDeliveryEpoch', EPOCH),
      claim: defineScript(client, 'ctPresenceClaim', CLAIM),
      pull: defineScript(client, 'ctQueuePull', PULL),
      append: defineScript(client, 'ctQueueAppend', APPEND),
      renew: defineScript(client, 'ctPresenceRenew', RENEW),
      release: defineScript(client, 'ctPresenceRelease', RELEASE),
    };
    this.#epoch = String(await scripts.epoch([keys.epoch], [`hub_${randomUUID()}`]));
    this.#store = { client, scripts, keys };
    for (const device of await client.smembers(keys.queues)) {
      const [tenant_id, device_id] = device.split(SEP) as [string, string];
      const { m, w, u, s, i } = keys.queue(device);
      const [holder, entries, waiting, inbox, unacked, state] = await Promise.all([
        client.get(keys.presence(device).p),
        client.hgetall(m),
        client.lrange(w, 0, -1),
        client.lrange(i, 0, -1),
        client.zrange(u, 0, -1, 'WITHSCORES'),
        client.hgetall(s),
      ]);
      // Held by a live node: that node has it; this one reads it when it claims the device.
      if (holder !== null) continue;
      const restored = stateOf(
        entries,
        [...inbox.filter((id) => id.startsWith('c.')), ...waiting, ...inbox.filter((id) => !id.startsWith('c.'))],
        unacked,
        state,
      );
      const queue = DeviceQueue.restore(this.#defaultCredit, restored, this.#journal(device, '', { tenant_id, device_id }));
      this.#queues.set(device, { who: { tenant_id, device_id }, queue });
    }
  }

  of(who: Who): DeviceQueue {
    const store = this.#store;
    if (!store) throw new HubError('invalid_state', 'the Redis engine opens with listen(): queue work once the hub listens');
    const device = deviceOf(who);
    if (this.#clustered && !this.holds(who)) return new DeviceQueue(this.#defaultCredit);
    return getOrCreate(this.#queues, device, () => ({
      who: { tenant_id: who.tenant_id, device_id: who.device_id },
      queue: new DeviceQueue(this.#defaultCredit, this.#journal(device, '', who)),
    })).queue;
  }

  all(): Array<{ who: Who; queue: DeviceQueue }> {
    return [...this.#queues.values()];
  }

  /** Resolves once every queue's writes so far are stored (or failed: logged). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.all().map(({ queue }) => queue.settled()));
  }

  /** Whether this node holds the device (claimed for a session, not lost since). */
  holds(who: Who): boolean {
    return this.#held.get(deviceOf(who))?.fence !== undefined;
  }

  /** The devices this node holds, with the session each is held for. */
  held(): Array<{ who: Who; session: string }> {
    const out: Array<{ who: Who; session: string }> = [];
    for (const [device, hold] of this.#held) if (hold.fence !== undefined) out.push({ who: whoOf(device), session: hold.session });
    return out;
  }

  /**
   * Claims the device for `session` of this node and reads its queue back in the same step (see
   * the CLAIM script). Issued after this node's earlier writes of the device on the same
   * connection, so the read sees them. Resolves with the previous holder and the cancels other
   * nodes queued; rejects with a {@link StaleHolderError} when a newer claim (of this node)
   * came first.
   */
  async claim(who: Who, session: string, ttlMs: number): Promise<{ previous: string; cancels: QueuedMessage[] }> {
    const { scripts, keys } = this.#ready();
    const device = deviceOf(who);
    this.#held.set(device, { session, fence: undefined });
    const { p, f } = keys.presence(device);
    const { m, w, u, s, i } = keys.queue(device);
    const reply = (await scripts.claim([p, f, m, w, u, s, i], [`${this.#node}|${session}`, ttlMs])) as [
      string,
      number,
      string[],
      string[],
      string[],
      string[],
      string[],
    ];
    const hold = this.#held.get(device);
    if (hold?.session !== session) throw new StaleHolderError(`a newer session of ${who.device_id} claimed it`);
    const [previous, fence, entries, waiting, unacked, state, taken] = reply;
    hold.fence = String(fence);
    const restored = stateOf(recordOf(entries), waiting, unacked, recordOf(state));
    const queue = DeviceQueue.restore(this.#defaultCredit, restored, this.#journal(device, hold.fence, who));
    this.#queues.set(device, { who: { tenant_id: who.tenant_id, device_id: who.device_id }, queue });
    const takenCancels = new Set(taken.filter((id) => id.startsWith('c.')));
    return { previous, cancels: restored.waiting.filter((entry) => takenCancels.has(entry.id)) };
  }

  /**
   * The session that held the device ended: after its writes (issued before, on the same
   * connection), the presence entry goes if it still names this session, and the queue is dropped.
   */
  release(who: Who, session: string): Promise<void> {
    const device = deviceOf(who);
    if (this.#held.get(device)?.session !== session) return Promise.resolve();
    this.#held.delete(device);
    this.#queues.delete(device);
    const store = this.#store;
    if (!store) return Promise.resolve();
    return store.scripts
      .release([store.keys.presence(device).p], [`${this.#node}|${session}`])
      .then(() => undefined)
      .catch((error: unknown) => this.#log.warn({ err: error, ...who }, 'cannot release the presence of a device'));
  }

  /** Forgets a device this node lost (another node claimed it): its queue here is dropped, nothing written. */
  lost(who: Who): void {
    const device = deviceOf(who);
    this.#held.delete(device);
    this.#queues.delete(device);
  }

  /** Takes what other nodes queued for a held device into its queue; nothing when it is not held here. */
  async pull(who: Who): Promise<{ requests: QueuedMessage[]; cancels: QueuedMessage[] }> {
    const device = deviceOf(who);
    const fence = this.#held.get(device)?.fence;
    const none = { requests: [], cancels: [] };
    if (fence === undefined) return none;
    const { scripts, keys } = this.#ready();
    const { m, w, i } = keys.queue(device);
    const flat = (await scripts.pull([i, w, m, keys.presence(device).f], [fence])) as string[];
    // Lost or released meanwhile: what was taken is in the waiting list, where the next holder reads it.
    if (this.#held.get(device)?.fence !== fence) return none;
    const taken: QueuedMessage[] = [];
    for (let index = 0; index + 1 < flat.length; index += 2) taken.push(...entryOf(flat[index]!, 0, flat[index + 1]));
    this.#queues.get(device)?.queue.adopt(taken);
    return {
      requests: taken.filter((entry) => entry.message.type !== 'execution_cancel'),
      cancels: taken.filter((entry) => entry.message.type === 'execution_cancel'),
    };
  }

  /**
   * Queues a message for a device this node does not hold: in its inbox, refused past `limit`
   * waiting and unacknowledged messages. Resolves with whether it was queued and the holder
   * (`node|session`, '' for none).
   */
  async append(who: Who, message: ReliableDeviceMessage, now: number, limit: number): Promise<{ queued: boolean; holder: string }> {
    const { scripts, keys } = this.#ready();
    const device = deviceOf(who);
    const { m, w, u, i } = keys.queue(device);
    const cancel = message.type === 'execution_cancel';
    const entry: QueuedMessage = { id: entryId(cancel), seq: 0, message, enqueuedAt: now };
    const [queued, holder] = (await scripts.append(
      [m, i, w, u, keys.queues, keys.presence(device).p],
      [entry.id, stored(entry, this.#node), cancel ? '1' : '0', device, cancel ? Number.MAX_SAFE_INTEGER : limit],
    )) as [number, string];
    return { queued: queued === 1, holder };
  }

  /**
   * Renews the presence of every held device (one pipeline). Resolves with the devices lost
   * (another node holds them now) and those with work waiting in their inbox.
   */
  async renew(ttlMs: number): Promise<{ lost: Who[]; waiting: Who[] }> {
    const held = this.held();
    const result = { lost: [] as Who[], waiting: [] as Who[] };
    if (held.length === 0) return result;
    const { scripts, keys } = this.#ready();
    const replies = await Promise.all(
      held.map(({ who, session }) => {
        const device = deviceOf(who);
        return scripts.renew([keys.presence(device).p, keys.queue(device).i], [`${this.#node}|${session}`, ttlMs]) as Promise<number>;
      }),
    );
    replies.forEach((reply, index) => {
      const { who, session } = held[index]!;
      if (this.#held.get(deviceOf(who))?.session !== session) return;
      if (reply === -1) result.lost.push(who);
      else if (reply > 0) result.waiting.push(who);
    });
    return result;
  }

  #journal(device: string, fence: string, who: Who): RedisDeviceJournal {
    const { client, scripts, keys } = this.#ready();
    const owner = { tenant_id: who.tenant_id, device_id: who.device_id };
    return new RedisDeviceJournal(
      {
        client,
        scripts,
        keys,
        device,
        fence,
        node: this.#node,
        stale: () => {
          // Only the hold that wrote it: a newer claim of this node has its own fence.
          if (fence !== '' && this.#held.get(device)?.fence === fence) this.#onStale(owner);
        },
      },
      this.#log,
    );
  }

  #ready(): { client: Redis; scripts: Scripts; keys: RedisKeys } {
    if (!this.#store) throw new HubError('invalid_state', 'the Redis engine opens with listen(): queue work once the hub listens');
    return this.#store;
  }
}

function deviceOf(who: Who): string {
  return `${who.tenant_id}${SEP}${who.device_id}`;
}

function whoOf(device: string): Who {
  const [tenant_id, device_id] = device.split(SEP) as [string, string];
  return { tenant_id, device_id };
}
