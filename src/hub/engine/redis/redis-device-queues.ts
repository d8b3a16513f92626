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

/** An entry as Redis keeps it: `seq` (first, so a script can strip it) once it is out, unacknowledged. */
interface StoredEntry {
  seq?: number;
  message: ReliableDeviceMessage;
  enqueuedAt: number;
  returned?: true;
  /** The node that queued it. */
  origin?: string;
}

/**
 * Refuses a write of a node that no longer holds the device: its fence (`ARGV[1]`) is not the
 * device's (field `fence` of the state hash, `KEYS[2]`). An empty fence writes unfenced (a queue
 * no node claimed).
 */
const FENCE = `
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], 'fence') ~= ARGV[1] then
  return redis.error_reply('FENCED the device is held by another hub node')
end
`;

// KEYS m s i queues; ARGV fence device first last lastId expiredReset expiredAdd register nPut (id value)... nFresh id... nDel id...
// Every change a queue made in one turn of the event loop, in one step: the entries put (queued,
// numbered, returned) with one HSET, those gone with one HDEL, the last seq and the missed count
// with one more. The first seq must follow the stored one; the same batch again (ioredis resends
// a script whose reply a reconnect lost) is done already. A stale holder writes nothing but the
// entries it queued in this batch, which go to the inbox of the node that holds the device now.
const WRITE = `
local meta = redis.call('HMGET', KEYS[2], 'fence', 'seq')
local nPut = tonumber(ARGV[9])
local at = 10
local put = {}
for i = 1, nPut * 2 do put[i] = ARGV[at + i - 1] end
at = at + nPut * 2
local nFresh = tonumber(ARGV[at])
local fresh = {}
for i = 1, nFresh do fresh[i] = ARGV[at + i] end
at = at + nFresh + 1
local nDel = tonumber(ARGV[at])
local gone = {}
for i = 1, nDel do gone[i] = ARGV[at + i] end
if ARGV[1] ~= '' and meta[1] ~= ARGV[1] then
  if nFresh == 0 then return redis.error_reply('FENCED the device is held by another hub node') end
  local values = {}
  for i = 1, nPut * 2, 2 do values[put[i]] = put[i + 1] end
  for _, id in ipairs(fresh) do
    local waiting = string.gsub(values[id], '^{"seq":%d+,', '{', 1)
    redis.call('HSET', KEYS[1], id, waiting)
  end
  redis.call('RPUSH', KEYS[3], unpack(fresh))
  if nPut == nFresh and nDel == 0 and ARGV[3] == '' and ARGV[6] == '' and ARGV[7] == '0' then return 0 end
  return redis.error_reply('FENCED the device is held by another hub node')
end
if ARGV[3] ~= '' then
  local last = tonumber(meta[2] or '0')
  if last + 1 ~= tonumber(ARGV[3]) then
    if last == tonumber(ARGV[4]) and redis.call('HEXISTS', KEYS[1], ARGV[5]) == 1 then return 1 end
    return redis.error_reply('seq ' .. ARGV[3] .. ' does not follow the stored ' .. last)
  end
end
if nDel > 0 then redis.call('HDEL', KEYS[1], unpack(gone)) end
if nPut > 0 then redis.call('HSET', KEYS[1], unpack(put)) end
if ARGV[3] ~= '' and ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'seq', ARGV[4], 'expired', ARGV[7])
elseif ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'seq', ARGV[4])
elseif ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'expired', ARGV[7]) end
if ARGV[6] == '' and ARGV[7] ~= '0' then redis.call('HINCRBY', KEYS[2], 'expired', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('SADD', KEYS[4], ARGV[2]) end
return 1`;

// KEYS epoch; ARGV fresh
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

// KEYS p s m i queues; ARGV holder ttl device. The device is this node's from now on: the presence
// entry names it, the fence moves on (the previous holder's writes are refused), the inbox is
// taken (its entries are in the queue's hash already), and the queue is read back, in one step.
const CLAIM = `
local previous = redis.call('GET', KEYS[1]) or ''
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local fence = redis.call('HINCRBY', KEYS[2], 'fence', 1)
redis.call('SADD', KEYS[5], ARGV[3])
local taken = redis.call('LRANGE', KEYS[4], 0, -1)
if #taken > 0 then redis.call('DEL', KEYS[4]) end
return { previous, fence, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[2]), taken }`;

// KEYS i s m; ARGV fence. The holder takes what other nodes queued: the ids with their entries.
const PULL = `${FENCE}
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
if #ids == 0 then return ids end
redis.call('DEL', KEYS[1])
local values = redis.call('HMGET', KEYS[3], unpack(ids))
local out = {}
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = values[i] or ''
end
return out`;

// KEYS m i queues p; ARGV device (id value limit)... Work queued by a node that does not hold the
// device, several messages in one step: each refused once the queue holds its limit, else in the
// queue's hash and named in the inbox; answers which were queued and who holds the device.
const APPEND = `
local count = redis.call('HLEN', KEYS[1])
if count == 0 then redis.call('SADD', KEYS[3], ARGV[1]) end
local put, ids, queued = {}, {}, {}
for i = 2, #ARGV, 3 do
  if count < tonumber(ARGV[i + 2]) then
    count = count + 1
    put[#put + 1] = ARGV[i]
    put[#put + 1] = ARGV[i + 1]
    ids[#ids + 1] = ARGV[i]
    queued[#queued + 1] = 1
  else
    queued[#queued + 1] = 0
  end
end
if #ids == 0 then return { queued, '' } end
redis.call('HSET', KEYS[1], unpack(put))
redis.call('RPUSH', KEYS[2], unpack(ids))
return { queued, redis.call('GET', KEYS[4]) or '' }`;

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
  write: RedisScript;
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

/** The changes a queue made in one turn of the event loop, written as one step. */
interface Batch {
  /** Entries by id to store as they are when the batch is written (queued, numbered, returned): encoded once. */
  put: Map<string, QueuedMessage>;
  /** Ids first queued in this batch: what a stale holder still stores, for the holder. */
  fresh: Set<string>;
  /** Ids withdrawn or expired (fenced). */
  gone: Set<string>;
  /** Ids the device has (acknowledged, reported on): removing them is always right, fenced or not. */
  done: Set<string>;
  sent: { first: number; last: number; lastId: string } | undefined;
  /** The missed count: told (reset to 0), then `added` more. */
  expired: { reset: boolean; added: number };
  /** Resolves once the batch is issued. */
  issued: Promise<void>;
  issue: () => void;
}

/**
 * One queue's journal in Redis. The changes of one turn of the event loop are written together
 * (one `HSET` for every entry queued or numbered, one `HDEL` for every entry gone), issued in
 * order on the engine's connection: under load a device's many executions share the steps.
 */
class RedisDeviceJournal implements DeviceJournal {
  readonly #writes: WriteThrough;
  readonly #keys: { m: string; s: string; i: string };
  readonly #place: JournalPlace;
  #batch: Batch | undefined;
  /** Not yet named in the set of queues (an unclaimed queue's first write names it). */
  #unregistered: boolean;

  constructor(place: JournalPlace, logger: Logger) {
    this.#place = place;
    this.#keys = place.keys.queue(place.device);
    this.#writes = new WriteThrough(logger, 'device queue');
    this.#unregistered = place.fence === '';
  }

  enqueued(entry: QueuedMessage): void {
    const batch = this.#open();
    batch.put.set(entry.id, entry);
    batch.fresh.add(entry.id);
  }

  sent(entry: QueuedMessage): void {
    const batch = this.#open();
    batch.put.set(entry.id, entry);
    batch.sent = { first: batch.sent?.first ?? entry.seq, last: entry.seq, lastId: entry.id };
  }

  acked(entries: readonly QueuedMessage[]): void {
    const batch = this.#open();
    for (const { id } of entries) {
      batch.put.delete(id);
      batch.done.add(id);
    }
  }

  returned(entry: QueuedMessage): void {
    this.#open().put.set(entry.id, entry);
  }

  removed(ids: string[], expired: number): void {
    const batch = this.#open();
    for (const id of ids) {
      batch.put.delete(id);
      batch.gone.add(id);
    }
    batch.expired.added += expired;
  }

  expiredTold(): void {
    this.#open().expired = { reset: true, added: 0 };
  }

  settled(): Promise<void> | undefined {
    const batch = this.#batch;
    if (batch) return batch.issued.then(() => this.#writes.settled());
    return this.#writes.settled();
  }

  #open(): Batch {
    if (this.#batch) return this.#batch;
    let issue = () => {};
    const issued = new Promise<void>((resolve) => {
      issue = resolve;
    });
    const batch: Batch = {
      put: new Map(),
      fresh: new Set(),
      gone: new Set(),
      done: new Set(),
      sent: undefined,
      expired: { reset: false, added: 0 },
      issued,
      issue,
    };
    this.#batch = batch;
    setImmediate(() => this.#flush(batch));
    return batch;
  }

  #flush(batch: Batch): void {
    this.#batch = undefined;
    const { m, s, i } = this.#keys;
    const { scripts, keys, fence, device, client } = this.#place;
    const { put, fresh, gone, done, sent, expired } = batch;
    // Only what the device has: one HDEL, no fence to read.
    if (put.size === 0 && gone.size === 0 && !sent && !expired.reset && expired.added === 0) {
      if (done.size > 0) this.#writes.issue(client.hdel(m, ...done));
      return batch.issue();
    }
    const args: Array<string | number> = [
      fence,
      device,
      sent?.first ?? '',
      sent?.last ?? '',
      sent?.lastId ?? '',
      expired.reset ? '1' : '',
      expired.added,
      this.#unregistered ? '1' : '',
      put.size,
    ];
    for (const [id, entry] of put) args.push(id, stored(entry, this.#place.node));
    const freshPut = [...fresh].filter((id) => put.has(id));
    args.push(freshPut.length, ...freshPut, gone.size + done.size, ...gone, ...done);
    this.#unregistered = false;
    this.#writes.issue(
      scripts
        .write([m, s, i, keys.queues], args)
        .then((reply) => {
          if (reply === 0) this.#place.stale();
        })
        .catch((error: unknown) => {
          if (isStaleHolder(error)) this.#place.stale();
          throw error;
        }),
    );
    batch.issue();
  }
}

function stored(entry: QueuedMessage, node: string): string {
  const value: StoredEntry = {
    ...(entry.seq > 0 && { seq: entry.seq }),
    message: entry.message,
    enqueuedAt: entry.enqueuedAt,
    ...(entry.returned && { returned: true as const }),
    origin: entry.origin ?? node,
  };
  return JSON.stringify(value);
}

/** An entry read back from its stored JSON (none for an empty value); also how the unheld-work sweep reads what it took. */
export function entryOf(id: string, text: string | undefined): QueuedMessage[] {
  if (text === undefined || text === '') return [];
  const { seq, message, enqueuedAt, returned, origin } = JSON.parse(text) as StoredEntry;
  return [{ id, seq: seq ?? 0, message, enqueuedAt, ...(returned && { returned }), ...(origin !== undefined && { origin }) }];
}

/** A flat `[field, value, …]` reply as a record. */
function recordOf(flat: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i]!] = flat[i + 1]!;
  return record;
}

/** The counter at the end of an entry id (after its last dot, base 36): orders the entries one node queued in the same millisecond. */
function counterOf(id: string): number {
  return parseInt(id.slice(id.lastIndexOf('.') + 1), 36);
}

/** The order entries wait in: cancels, then those refused and waiting again, then the rest, each oldest first. */
function waitingOrder(a: QueuedMessage, b: QueuedMessage): number {
  const rank = (entry: QueuedMessage) => (entry.message.type === 'execution_cancel' ? 0 : entry.returned ? 1 : 2);
  return (
    rank(a) - rank(b) ||
    a.enqueuedAt - b.enqueuedAt ||
    (a.id.slice(0, a.id.lastIndexOf('.')) === b.id.slice(0, b.id.lastIndexOf('.'))
      ? counterOf(a.id) - counterOf(b.id)
      : a.id < b.id
        ? -1
        : 1)
  );
}

/** The queue state of a read-back: the entries by id (those numbered are out, the rest wait) and the state hash. */
function stateOf(entries: Record<string, string>, state: Record<string, string>) {
  const waiting: QueuedMessage[] = [];
  const unacked: QueuedMessage[] = [];
  for (const [id, text] of Object.entries(entries)) for (const entry of entryOf(id, text)) (entry.seq > 0 ? unacked : waiting).push(entry);
  return {
    lastSeq: Number(state.seq ?? 0),
    waiting: waiting.sort(waitingOrder),
    unacked: unacked.sort((a, b) => a.seq - b.seq),
    expired: Number(state.expired ?? 0),
  };
}

/** How long a presence entry lives without renewal, and how often its holder renews it. */
export const PRESENCE_TTL_MS = 15_000;
export const PRESENCE_RENEW_MS = 5_000;

/** A message waiting to be appended to a device's inbox, and who waits for the answer. */
interface PendingAppend {
  id: string;
  value: string;
  limit: number;
  resolve(answer: { queued: boolean; holder: string }): void;
  reject(error: unknown): void;
}

/** A device this node holds: the session it holds it for, and the fence its writes go under once claimed. */
interface Hold {
  session: string;
  fence: string | undefined;
  /** Entries pokes carried, not yet taken into the queue. */
  poked: QueuedMessage[];
  /** Ids taken from pokes that the inbox still names (a read of the inbox skips them, and forgets them). */
  adopted: Set<string>;
  /** Ids taken from the inbox (a read, the claim) whose poke has not come: a poke carrying one is skipped. */
  taken: Set<string>;
  /** The next pull reads the inbox (a poke that carried no entries, a renewal that found the inbox not empty). */
  read: boolean;
}

/** Ids a hold remembers as taken from the inbox ahead of their poke, at most: the oldest are forgotten (a poke comes within moments, or never). */
const MAX_TAKEN = 4096;
/** A poke carries its entries up to this size (JSON characters); larger work is read from the store. */
export const MAX_POKE_ENTRIES_CHARS = 64 * 1024;

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
  /** Messages for devices held elsewhere, waiting for the end of this turn of the event loop (see {@link RedisDeviceQueues.append}). */
  readonly #appends = new Map<string, PendingAppend[]>();
  /** Each device's last pull (see {@link RedisDeviceQueues.pull}), and the devices whose next pull has not started. */
  readonly #pulling = new Map<string, Promise<void>>();
  readonly #pullWaiting = new Set<string>();
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
      write: defineScript(client, 'ctQueueWrite', WRITE),
      epoch: defineScript(client, 'ctDeliveryEpoch', EPOCH),
      claim: defineScript(client, 'ctPresenceClaim3', CLAIM),
      pull: defineScript(client, 'ctQueuePull3', PULL),
      append: defineScript(client, 'ctQueueAppend3', APPEND),
      renew: defineScript(client, 'ctPresenceRenew', RENEW),
      release: defineScript(client, 'ctPresenceRelease', RELEASE),
    };
    this.#epoch = String(await scripts.epoch([keys.epoch], [`hub_${randomUUID()}`]));
    this.#store = { client, scripts, keys };
    for (const device of await client.smembers(keys.queues)) {
      const [tenant_id, device_id] = device.split(SEP) as [string, string];
      const { m, s } = keys.queue(device);
      const [holder, entries, state] = await Promise.all([client.get(keys.presence(device).p), client.hgetall(m), client.hgetall(s)]);
      // Held by a live node: that node has it; this one reads it when it claims the device.
      if (holder !== null) continue;
      // What other nodes queued is in the hash already: it waits with the rest.
      const restored = stateOf(entries, state);
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
    this.#held.set(device, { session, fence: undefined, poked: [], adopted: new Set(), taken: new Set(), read: false });
    const { p } = keys.presence(device);
    const { m, s, i } = keys.queue(device);
    const reply = (await scripts.claim([p, s, m, i, keys.queues], [`${this.#node}|${session}`, ttlMs, device])) as [
      string,
      number,
      string[],
      string[],
      string[],
    ];
    const hold = this.#held.get(device);
    if (hold?.session !== session) throw new StaleHolderError(`a newer session of ${who.device_id} claimed it`);
    const [previous, fence, entries, state, taken] = reply;
    hold.fence = String(fence);
    // What the inbox named is in the queue read back: a poke that carried it comes too late.
    for (const id of taken) remember(hold.taken, id);
    const restored = stateOf(recordOf(entries), recordOf(state));
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

  /**
   * Takes what other nodes queued for a held device into its queue; nothing when it is not held
   * here. Pulls of one device run one after another, and a pull asked while another waits to
   * start resolves empty: the waiting one takes its work too (many pokes, one read).
   */
  pull(who: Who): Promise<{ requests: QueuedMessage[]; cancels: QueuedMessage[] }> {
    const device = deviceOf(who);
    if (this.#pullWaiting.has(device)) return Promise.resolve({ requests: [], cancels: [] });
    this.#pullWaiting.add(device);
    const run = (this.#pulling.get(device) ?? Promise.resolve()).then(() => {
      this.#pullWaiting.delete(device);
      return this.#pullNow(device);
    });
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.#pulling.set(device, done);
    void done.then(() => {
      if (this.#pulling.get(device) === done) this.#pulling.delete(device);
    });
    return run;
  }

  async #pullNow(device: string): Promise<{ requests: QueuedMessage[]; cancels: QueuedMessage[] }> {
    const hold = this.#held.get(device);
    const fence = hold?.fence;
    const none = { requests: [], cancels: [] };
    if (!hold || fence === undefined) return none;
    const taken = hold.poked;
    hold.poked = [];
    for (const entry of taken) hold.adopted.add(entry.id);
    // A pull with no entries carried (a poke without them, a renewal, a caller's own) reads the inbox.
    if (hold.read || taken.length === 0) {
      hold.read = false;
      const { scripts, keys } = this.#ready();
      const { m, s, i } = keys.queue(device);
      const flat = (await scripts.pull([i, s, m], [fence])) as string[];
      // Lost or released meanwhile: what was taken is in the queue's hash, where the next holder reads it.
      if (this.#held.get(device) !== hold || hold.fence !== fence) return none;
      for (let index = 0; index + 1 < flat.length; index += 2) {
        const id = flat[index]!;
        // Taken from its poke already (it may be out, or acknowledged and gone, since).
        if (hold.adopted.delete(id)) continue;
        if (taken.some((entry) => entry.id === id)) continue;
        // Its poke came while the inbox was read: taken here, not from the poke.
        const waiting = hold.poked.findIndex((entry) => entry.id === id);
        if (waiting !== -1) hold.poked.splice(waiting, 1);
        else remember(hold.taken, id);
        taken.push(...entryOf(id, flat[index + 1]));
      }
    }
    taken.sort(waitingOrder);
    this.#queues.get(device)?.queue.adopt(taken);
    return {
      requests: taken.filter((entry) => entry.message.type !== 'execution_cancel'),
      cancels: taken.filter((entry) => entry.message.type === 'execution_cancel'),
    };
  }

  /**
   * Entries a poke carried for a device held here: taken at the next pull without reading the
   * store (those the inbox gave up already skipped); `undefined` for a poke that carried none,
   * whose pull reads the inbox. Nothing when the device is not held here: its holder reads them.
   */
  poked(who: Who, entries: ReadonlyArray<readonly [string, string]> | undefined): void {
    const hold = this.#held.get(deviceOf(who));
    if (hold?.fence === undefined) return;
    if (entries === undefined) {
      hold.read = true;
      return;
    }
    for (const [id, value] of entries) {
      if (hold.taken.delete(id)) continue;
      hold.poked.push(...entryOf(id, value));
    }
  }

  /**
   * Queues a message for a device this node does not hold: in its inbox, refused past `limit`
   * waiting and unacknowledged messages. Resolves with whether it was queued and the holder
   * (`node|session`, '' for none).
   */
  append(
    who: Who,
    message: ReliableDeviceMessage,
    now: number,
    limit: number,
  ): Promise<{ queued: boolean; holder: string; entry: [string, string] }> {
    this.#ready();
    const device = deviceOf(who);
    const cancel = message.type === 'execution_cancel';
    const entry: QueuedMessage = { id: entryId(cancel), seq: 0, message, enqueuedAt: now };
    const appends = getOrCreate(this.#appends, device, () => {
      setImmediate(() => this.#appendNow(device));
      return [];
    });
    const value = stored(entry, this.#node);
    return new Promise((resolve, reject) =>
      appends.push({
        id: entry.id,
        value,
        limit: cancel ? Number.MAX_SAFE_INTEGER : limit,
        resolve: (answer) => resolve({ ...answer, entry: [entry.id, value] }),
        reject,
      }),
    );
  }

  /** The messages queued for a device held elsewhere in this turn of the event loop: one step for all. */
  #appendNow(device: string): void {
    const appends = this.#appends.get(device) ?? [];
    this.#appends.delete(device);
    const { scripts, keys } = this.#ready();
    const { m, i } = keys.queue(device);
    const args: Array<string | number> = [device];
    for (const { id, value, limit } of appends) args.push(id, value, limit);
    (scripts.append([m, i, keys.queues, keys.presence(device).p], args) as Promise<[number[], string]>).then(
      ([queued, holder]) => appends.forEach((append, index) => append.resolve({ queued: queued[index] === 1, holder })),
      (error: unknown) => appends.forEach((append) => append.reject(error)),
    );
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
      else if (reply > 0) {
        this.#held.get(deviceOf(who))!.read = true;
        result.waiting.push(who);
      }
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

/** Adds `id` to a hold's ids taken ahead of their poke, forgetting the oldest past {@link MAX_TAKEN}. */
function remember(taken: Set<string>, id: string): void {
  taken.add(id);
  if (taken.size > MAX_TAKEN) taken.delete(taken.values().next().value!);
}

function deviceOf(who: Who): string {
  return `${who.tenant_id}${SEP}${who.device_id}`;
}

function whoOf(device: string): Who {
  const [tenant_id, device_id] = device.split(SEP) as [string, string];
  return { tenant_id, device_id };
}
