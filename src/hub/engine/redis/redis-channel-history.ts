import { randomUUID } from 'node:crypto';
import type { ChannelHistory, HistoryEntry, StoredChannel } from '../../channels/channel-history.ts';
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

/** The channel as kept: `{ epoch, offset, entries }`, or nil when none is. */
const READ_LUA = `${CHECK_LUA}
local epoch = whole(KEYS[1], KEYS[2])
if not epoch then return nil end
return { epoch, redis.call('HGET', KEYS[1], 'offset'), redis.call('XRANGE', KEYS[2], '-', '+') }
`;

/**
 * A message at `ARGV[2]` (it must follow the kept offset) under the epoch `ARGV[1]` (a channel new
 * to Redis takes it, one Redis lost takes `ARGV[8]`; a kept one keeps its own), trimmed to about
 * `ARGV[6]`. Returns the epoch, or an error reply naming the kept offset.
 */
const APPEND_LUA = `${CHECK_LUA}
local epoch = whole(KEYS[1], KEYS[2])
if not epoch then
  -- New to Redis: a new channel takes the node's epoch; one whose history Redis lost (FLUSHALL) a new one.
  if tonumber(ARGV[2]) == 1 then epoch = ARGV[1] else epoch = ARGV[8] end
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', tonumber(ARGV[2]) - 1)
  redis.call('SADD', KEYS[3], ARGV[7])
end
local kept = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local offset = tonumber(ARGV[2])
if offset ~= kept + 1 then return redis.error_reply('channel offset ' .. offset .. ' does not follow the stored ' .. kept) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], offset .. '-1', 'epoch', epoch, 'event', ARGV[3], 'payload', ARGV[4], 'at', ARGV[5])
redis.call('HSET', KEYS[1], 'offset', offset)
return epoch
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

/**
 * Channel offsets and replay windows in Redis ({@link ChannelHistory}): per channel a meta hash
 * (`epoch`, last `offset`) and a stream whose entry ids are the offsets (`<offset>-1`), trimmed
 * with `XADD … MAXLEN ~` to about the replay window; a set names the channels kept. Reads and
 * appends are scripts that first check the history is whole (the stream's last entry is the
 * meta's offset, of its epoch) and give the channel a new epoch when it is not, so a device is
 * told its gap (`recovery: 'lost'`) instead of being handed one. A `FLUSHALL` takes the meta too:
 * the channel then starts afresh with a new epoch, which a device recovering from the old one
 * also gets as `lost`.
 *
 * @example
 * const history = new RedisChannelHistory(connection, keys.channelHistory);
 * await history.append('acme\u0000task:t1', 'ch_1', { offset: 1, event: 'message', payload: { text: 'hi' }, at: now }, 1_000);
 */
export class RedisChannelHistory implements ChannelHistory {
  readonly #connection: RedisConnection;
  readonly #keys: { meta(key: string): string; stream(key: string): string; all: string };
  readonly #read;
  readonly #append;

  constructor(connection: RedisConnection, keys: { meta(key: string): string; stream(key: string): string; all: string }) {
    this.#connection = connection;
    this.#keys = keys;
    this.#read = connection.script('ctChannelRead', READ_LUA);
    this.#append = connection.script('ctChannelAppend', APPEND_LUA);
  }

  async restore(): Promise<StoredChannel[]> {
    const client = await this.#connection.ready();
    const keys = await client.smembers(this.#keys.all);
    const channels = await Promise.all(keys.map((key) => this.read(key, newEpoch())));
    return channels.filter((channel): channel is StoredChannel => channel !== undefined);
  }

  async read(key: string, epoch: string): Promise<StoredChannel | undefined> {
    const kept = (await this.#read([this.#keys.meta(key), this.#keys.stream(key)], [epoch])) as [string, string, RawEntry[]] | null;
    if (!kept) return undefined;
    return { key, epoch: kept[0], offset: Number(kept[1]), log: kept[2].map(entryOf) };
  }

  async append(key: string, epoch: string, entry: HistoryEntry, keep: number): Promise<string> {
    const { offset, event, payload, at } = entry;
    return (await this.#append(
      [this.#keys.meta(key), this.#keys.stream(key), this.#keys.all],
      [epoch, offset, event, JSON.stringify(payload), at, keep, key, newEpoch()],
    )) as string;
  }

  async forget(key: string): Promise<void> {
    const client = await this.#connection.ready();
    await client.multi().del(this.#keys.meta(key), this.#keys.stream(key)).srem(this.#keys.all, key).exec();
  }
}
