import type { RateLimit } from '../../../api/contract.ts';
import { type RateBuckets, type RateVerdict, verdictOf } from '../../api/api-rate-limit.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * One request from a bucket (`t` tokens at `a`, the hub's clock): refilled for the time since,
 * at most `burst`, one taken when there is one. The bucket lives as long as it takes to fill
 * from empty (`ARGV[4]` ms): a bucket gone is a full one. Returns `{ ok, tokens }`.
 */
const TAKE_LUA = `
local now = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local perMs = tonumber(ARGV[3]) / 1000
local bucket = redis.call('HMGET', KEYS[1], 't', 'a')
local tokens = burst
if bucket[1] then
  tokens = math.min(burst, tonumber(bucket[1]) + math.max(0, now - tonumber(bucket[2])) * perMs)
end
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return { ok, tostring(tokens) }
`;

/**
 * The REST API's token buckets in Redis (`RateLimiter`'s, src/hub/api/api-rate-limit.ts), so
 * every hub node on one Redis charges the same budget: `burst` requests, refilled at
 * `per_second`, per credential, whichever node answers. Each take is one script. A bucket is a
 * hash with a TTL of one fill time, so Redis holds the buckets of callers seen within it, and
 * forgets the rest itself. Times are the hub's clock: nodes whose clocks disagree refill by the
 * later one, never below zero.
 *
 * @example
 * const buckets = new RedisRateBuckets(connection, 'cloudtether:api:rate:', { burst: 20, per_second: 10 }, () => clock.now());
 * const verdict = await buckets.take('key:3f9a…');
 */
export class RedisRateBuckets implements RateBuckets {
  readonly #take;
  readonly #prefix: string;
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #fillMs: number;

  constructor(connection: RedisConnection, prefix: string, limit: RateLimit, now: () => number) {
    this.#take = connection.script('ctRateTake', TAKE_LUA);
    this.#prefix = prefix;
    this.#limit = limit;
    this.#now = now;
    this.#fillMs = Math.max(1_000, Math.ceil((limit.burst / limit.per_second) * 1_000));
  }

  async take(key: string): Promise<RateVerdict> {
    const { burst, per_second: perSecond } = this.#limit;
    const [ok, tokens] = (await this.#take([this.#prefix + key], [this.#now(), burst, perSecond, this.#fillMs])) as [number, string];
    return verdictOf(this.#limit, Number(tokens), ok === 1);
  }
}
