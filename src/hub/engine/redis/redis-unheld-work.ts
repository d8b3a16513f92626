import type { QueuedMessage } from '../../delivery/device-queue.ts';
import type { ExpiredWork, UnheldWork } from '../../delivery/unheld-work.ts';
import type { RedisConnection } from './redis-connection.ts';
import { entryOf } from './redis-device-queues.ts';
import type { RedisKeys } from './redis-keys.ts';

/** KEYS lease; ARGV node now until. The lease is `node|until` (the hub's clock); taken when free, run out, or already the node's. */
const LEASE_LUA = `
local held = redis.call('GET', KEYS[1])
if held then
  local node, untilAt = string.match(held, '^(.*)|(%d+)$')
  if node ~= ARGV[1] and untilAt and tonumber(untilAt) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[3])
return 1`;

/** KEYS lease; ARGV node */
const RELEASE_LUA = `
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^(.*)|%d+$') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

/**
 * KEYS (p m i s) per device; ARGV cutoff. For each device no node holds (no presence entry, in
 * the same step: a claim sees all of its queue or what is left), the entries waiting (not yet
 * numbered: no `seq` in the stored JSON) that were enqueued at or before the cutoff go, from the
 * queue's hash and its inbox (cancels stay: they concern work the device has), and count as
 * missed. Per device: `{ { id, entry, … }, oldest enqueuedAt left or -1 }`.
 */
const EXPIRE_LUA = `
local cutoff = tonumber(ARGV[1])
local out = {}
for d = 0, #KEYS / 4 - 1 do
  local p, m, i, s = KEYS[d * 4 + 1], KEYS[d * 4 + 2], KEYS[d * 4 + 3], KEYS[d * 4 + 4]
  local expired = {}
  local oldest = -1
  if redis.call('EXISTS', p) == 0 then
    local all = redis.call('HGETALL', m)
    for k = 1, #all, 2 do
      local id, text = all[k], all[k + 1]
      if string.sub(id, 1, 2) ~= 'c.' and string.sub(text, 1, 7) ~= '{"seq":' then
        local at
        local ok, entry = pcall(cjson.decode, text)
        if ok and type(entry) == 'table' then at = tonumber(entry.enqueuedAt) end
        if at and at <= cutoff then
          redis.call('HDEL', m, id)
          redis.call('LREM', i, 1, id)
          expired[#expired + 1] = id
          expired[#expired + 1] = text
        elseif at and (oldest == -1 or at < oldest) then
          oldest = at
        end
      end
    end
    if #expired > 0 then redis.call('HINCRBY', s, 'expired', #expired / 2) end
  end
  out[#out + 1] = { expired, oldest }
end
return out`;

/** Devices per EXPIRE script: one scan page of the queues set. */
const BATCH = 100;
const SEP = '\u0000';

/**
 * {@link UnheldWork} in Redis: the lease is one string (`node|until`, on the hub's clock, so a
 * test's manual clock runs it too), taken and renewed by a script; the sweep walks the set of
 * devices with queues (`SSCAN`) and runs one script per page of devices, each device's expiry
 * atomic against a claim by its presence entry, as the device queues keep it
 * (src/hub/engine/redis/redis-device-queues.ts).
 *
 * @example
 * const work = new RedisUnheldWork(connection, keys);
 * await work.lease('eu-1', now, 15_000); // true
 */
export class RedisUnheldWork implements UnheldWork {
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys;
  readonly #lease;
  readonly #release;
  readonly #expire;

  constructor(connection: RedisConnection, keys: RedisKeys) {
    this.#connection = connection;
    this.#keys = keys;
    this.#lease = connection.script('ctUnheldLease', LEASE_LUA);
    this.#release = connection.script('ctUnheldRelease', RELEASE_LUA);
    this.#expire = connection.script('ctUnheldExpire', EXPIRE_LUA);
  }

  async lease(node: string, now: number, ttlMs: number): Promise<boolean> {
    return (await this.#lease([this.#keys.expiryLease], [node, now, now + ttlMs])) === 1;
  }

  async release(node: string): Promise<void> {
    await this.#release([this.#keys.expiryLease], [node]);
  }

  async expire(cutoff: number): Promise<{ expired: ExpiredWork[]; oldest: number | undefined }> {
    const client = await this.#connection.ready();
    const expired: ExpiredWork[] = [];
    let oldest: number | undefined;
    let cursor = '0';
    do {
      const [next, devices] = await client.sscan(this.#keys.queues, cursor, 'COUNT', BATCH);
      cursor = next;
      if (devices.length === 0) continue;
      const keys = devices.flatMap((device) => {
        const { m, i, s } = this.#keys.queue(device);
        return [this.#keys.presence(device).p, m, i, s];
      });
      const replies = (await this.#expire(keys, [cutoff])) as Array<[string[], number]>;
      replies.forEach(([flat, left], index) => {
        const [tenant_id, device_id] = devices[index]!.split(SEP) as [string, string];
        for (let k = 0; k + 1 < flat.length; k += 2) {
          for (const entry of readEntry(flat[k]!, flat[k + 1]!)) expired.push({ who: { tenant_id, device_id }, entry });
        }
        if (left >= 0 && (oldest === undefined || left < oldest)) oldest = left;
      });
    } while (cursor !== '0');
    return { expired, oldest };
  }
}

/** What the sweep took, as the device queues read an entry; an entry that does not parse is skipped (it is gone from Redis either way). */
function readEntry(id: string, text: string): QueuedMessage[] {
  try {
    return entryOf(id, text);
  } catch {
    return [];
  }
}
