import { randomUUID } from 'node:crypto';
import type { ChannelHistory, ChannelRef, HistoryEntry, KnownChannel, StoredChannel } from '../../channels/channel-history.ts';
import type { ClusterNote } from '../cluster.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * Whether a channel's history is whole: the meta hash (`epoch`, `offset`) says what was kept, the
 * stream must hold it (its last entry at `offset`, of `epoch`). When not (the stream deleted, or
 * Redis lost its tail), the channel takes the new epoch `ARGV[1]` and keeps its offsets.
 */
const CHECK_LUA = `
local function whole(meta, stream)
  local kept = redis.call('HMGET', meta, 'epoch', 'offset')
  if not kept[1] then return nil end
  local offset = tonumber(kept[2])
  if offset == 0 then return kept[1] end
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if last then
    local fields = last[2]
    local epoch
    for i = 1, #fields, 2 do if fields[i] == 'epoch' then epoch = fields[i + 1] end end
    if tonumber(string.match(last[1], '^(%d+)')) == offset and epoch == kept[1] then return kept[1] end
  end
  redis.call('HSET', meta, 'epoch', ARGV[1])
  redis.call('DEL', stream)
  return ARGV[1]
end
`;

/**
 * The channel's epoch, its history checked whole; a channel the history does not have is started
 * here (`ARGV[2]` its epoch when the node knows it at offset `ARGV[3]` = 0, else the new epoch
 * `ARGV[1]` from offset `ARGV[3]`: Redis lost it, and offsets must not go back).
 */
const ENSURE_LUA = `${CHECK_LUA}
local function ensure(meta, stream, all, key)
  local epoch = whole(meta, stream)
  if epoch then return epoch end
  local known = tonumber(ARGV[3])
  if known == 0 then epoch = ARGV[2] else epoch = ARGV[1] end
  redis.call('HSET', meta, 'epoch', epoch, 'offset', known)
  redis.call('SADD', all, key)
  return epoch
end
`;

/** ARGV new-epoch node-epoch known key. The channel as kept: `{ epoch, offset, entries }`. */
const READ_LUA = `${ENSURE_LUA}
local epoch = ensure(KEYS[1], KEYS[2], KEYS[3], ARGV[4])
return { epoch, redis.call('HGET', KEYS[1], 'offset'), redis.call('XRANGE', KEYS[2], '-', '+') }
`;

/**
 * ARGV new-epoch node-epoch known key event payload at keep broker note. Takes the next offset,
 * keeps the message under it (trimmed to about `keep`), and publishes the note every node hears
 * (`note` is its JSON, as one note in redis-cluster.ts's wire, up to the payload; the offset and epoch close it), all in one step: notes
 * reach each node in the order the offsets were taken. Returns `{ epoch, offset }`.
 */
const APPEND_LUA = `${ENSURE_LUA}
local epoch = ensure(KEYS[1], KEYS[2], KEYS[3], ARGV[4])
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset')) + 1
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], offset .. '-1', 'epoch', epoch, 'event', ARGV[5], 'payload', ARGV[6], 'at', ARGV[7])
redis.call('HSET', KEYS[1], 'offset', offset)
redis.call('PUBLISH', ARGV[9], ARGV[10] .. ',"payload":' .. ARGV[6] .. ',"offset":' .. offset .. ',"epoch":"' .. epoch .. '"}]}')
return { epoch, offset }
`;

/** A channel epoch, as `HubChannels` makes them. */
const newEpoch = () => `ch_${randomUUID()}`;

type RawEntry = [id: string, fields: string[]];

function entryOf([id, fields]: RawEntry): HistoryEntry {
  const field = (name: string) => fields[fields.indexOf(name) + 1] ?? '';
  return {
    offset: Number.parseInt(id, 10),
    event: field('event'),
    payload: JSON.parse(field('payload')) as Record<string, unknown>,
    at: Number(field('at')),
  };
}

/** Where appends are announced: the broker channel every node hears, and this node's name (`from`). */
export interface ChannelAnnounce {
  broker: string;
  node: string;
}

/**
 * Channel offsets and replay windows in Redis ({@link ChannelHistory}): per channel a meta hash
 * (`epoch`, last `offset`) and a stream whose entry ids are the offsets (`<offset>-1`), trimmed
 * with `XADD … MAXLEN ~` to about the replay window; a set names the channels kept. Reads and
 * appends are scripts that first check the history is whole (the stream's last entry is the
 * meta's offset, of its epoch) and give the channel a new epoch when it is not, so a device is
 * told its gap (`recovery: 'lost'`) instead of being handed one. An append takes the next offset
 * in its script, so two nodes publishing at once each get one, and the script publishes the
 * `publish` note (src/hub/engine/cluster.ts) on the broker: Redis runs scripts one at a time and
 * hands pub/sub messages to each subscriber in order, so every node hears a channel's messages
 * in offset order. A `FLUSHALL` takes the meta too: the channel then starts afresh with a new
 * epoch, which a device recovering from the old one also gets as `lost`.
 *
 * @example
 * const history = new RedisChannelHistory(connection, keys.channelHistory, { broker: keys.channel(undefined), node: 'eu-1' });
 * const ref = { key: 'acme\u0000task:t1', tenant_id: 'acme', channel: 'task:t1' };
 * await history.append(ref, { epoch: 'ch_1', offset: 0 }, { event: 'message', payload: { text: 'hi' }, at: now }, 1_000); // { epoch: 'ch_1', offset: 1 }
 */
export class RedisChannelHistory implements ChannelHistory {
  readonly #connection: RedisConnection;
  readonly #keys: { meta(key: string): string; stream(key: string): string; all: string };
  readonly #announce: ChannelAnnounce;
  readonly #read;
  readonly #append;

  constructor(
    connection: RedisConnection,
    keys: { meta(key: string): string; stream(key: string): string; all: string },
    announce: ChannelAnnounce,
  ) {
    this.#connection = connection;
    this.#keys = keys;
    this.#announce = announce;
    this.#read = connection.script('ctChannelRead', READ_LUA);
    this.#append = connection.script('ctChannelAppend', APPEND_LUA);
  }

  async restore(): Promise<StoredChannel[]> {
    const client = await this.#connection.ready();
    const keys = await client.smembers(this.#keys.all);
    return Promise.all(keys.map((key) => this.read(key, { epoch: newEpoch(), offset: 0 })));
  }

  async read(key: string, known: KnownChannel): Promise<StoredChannel> {
    const { meta, stream, all } = this.#keys;
    const kept = (await this.#read([meta(key), stream(key), all], [newEpoch(), known.epoch, known.offset, key])) as [
      string,
      string,
      RawEntry[],
    ];
    return { key, epoch: kept[0], offset: Number(kept[1]), log: kept[2].map(entryOf) };
  }

  async append(
    channel: ChannelRef,
    known: KnownChannel,
    entry: Omit<HistoryEntry, 'offset'>,
    keep: number,
  ): Promise<{ epoch: string; offset: number }> {
    const { key, tenant_id, channel: name } = channel;
    const { event, payload, at } = entry;
    // The note up to its payload; the script adds the payload, offset and epoch (cluster.ts's `publish` note).
    const head: Omit<Extract<ClusterNote, { t: 'publish' }>, 'payload' | 'offset' | 'epoch'> = {
      t: 'publish',
      tenant_id,
      channel: name,
      event,
      at,
    };
    const { meta, stream, all } = this.#keys;
    const [epoch, offset] = (await this.#append(
      [meta(key), stream(key), all],
      [
        newEpoch(),
        known.epoch,
        known.offset,
        key,
        event,
        JSON.stringify(payload),
        at,
        keep,
        this.#announce.broker,
        `{"from":${JSON.stringify(this.#announce.node)},"notes":[${JSON.stringify(head).slice(0, -1)}`,
      ],
    )) as [string, number];
    return { epoch, offset: Number(offset) };
  }

  async forget(key: string): Promise<void> {
    const client = await this.#connection.ready();
    await client.multi().del(this.#keys.meta(key), this.#keys.stream(key)).srem(this.#keys.all, key).exec();
  }
}
