import type { AttemptRecord, AttemptStore } from '../../throttle/attempt-store.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * One more failure: a record that expired (by the caller's clock) counts as none. Returns the new
 * count. A new record has no expiry yet (`e`), only a pending one (`p`, `ARGV[2]` ms) that keeps
 * it until the caller stores what the count makes of it.
 */
const FAIL_LUA = `
local now = tonumber(ARGV[1])
local record = redis.call('HMGET', KEYS[1], 'f', 'e', 'p')
local failures = 0
if record[1] and math.max(tonumber(record[2]) or 0, tonumber(record[3]) or 0) > now then failures = tonumber(record[1]) end
failures = failures + 1
if failures == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'f', 1, 'l', 0, 'p', now + tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], 'f', failures)
end
return failures
`;

/**
 * What a count makes of a record, never lowering it: a lock-out or an expiry stored by a later
 * failure (on another node) stays. Returns the record as stored.
 */
const SETTLE_LUA = `
local now = tonumber(ARGV[1])
local record = redis.call('HMGET', KEYS[1], 'f', 'l', 'e')
local failures = tonumber(record[1]) or tonumber(ARGV[4])
local locked = math.max(tonumber(record[2]) or 0, tonumber(ARGV[2]))
local expires = math.max(tonumber(record[3]) or 0, tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'f', failures, 'l', locked, 'e', expires)
redis.call('HDEL', KEYS[1], 'p')
if expires > now then redis.call('PEXPIRE', KEYS[1], expires - now) else redis.call('DEL', KEYS[1]) end
return { tostring(failures), tostring(locked), tostring(expires) }
`;

/** The longest a record lives between its first failure and what the count makes of it. */
const PENDING_MS = 60_000;

/**
 * The failed-credential counts in Redis (`FailureThrottle`, src/hub/throttle/failure-throttle.ts),
 * shared by every hub node on it: failures counted on one node lock the address or credential out
 * on all. One hash per key (`f` failures, `l` locked until, `e` expires at), each with a TTL to its
 * expiry, so Redis holds only live records: its memory is bounded by the failures of the last
 * lock-out window, and Redis drops them itself. Counting is one script (no read-then-write
 * between nodes); what the count makes of the record is a second one that only ever raises the
 * lock-out and the expiry, so two nodes counting at once both leave the longer lock-out.
 *
 * Times are the hub's clock (`now`), stored as numbers; TTLs are relative to it, so a hub whose
 * clock is injected expires records by that clock.
 *
 * @example
 * const store = new RedisAttemptStore(connection, 'cloudtether:throttle:failures:');
 * await store.fail('addr\u0000api_key\u0000192.0.2.7', now, (failures) => ({ lockedUntil: 0, expiresAt: now + 60_000 }));
 */
export class RedisAttemptStore implements AttemptStore {
  readonly #prefix: string;
  readonly #connection: RedisConnection;
  readonly #fail;
  readonly #settle;

  constructor(connection: RedisConnection, prefix: string) {
    this.#connection = connection;
    this.#prefix = prefix;
    this.#fail = connection.script('ctAttemptFail', FAIL_LUA);
    this.#settle = connection.script('ctAttemptSettle', SETTLE_LUA);
  }

  async get(key: string, now: number): Promise<AttemptRecord | undefined> {
    const client = await this.#connection.ready();
    const [failures, lockedUntil, settled, pending] = await client.hmget(this.#prefix + key, 'f', 'l', 'e', 'p');
    // A first failure whose expiry is not stored yet (`p`) is alive until its pending expiry.
    const expiresAt = Number(settled ?? pending ?? 0);
    if (failures == null || expiresAt <= now) return undefined;
    return { failures: Number(failures), lockedUntil: Number(lockedUntil ?? 0), expiresAt };
  }

  async fail(key: string, now: number, next: (failures: number) => Omit<AttemptRecord, 'failures'>): Promise<AttemptRecord> {
    const failures = Number(await this.#fail([this.#prefix + key], [now, PENDING_MS]));
    const { lockedUntil, expiresAt } = next(failures);
    const stored = (await this.#settle([this.#prefix + key], [now, lockedUntil, expiresAt, failures])) as string[];
    // The count is this failure's; the lock-out and expiry may be a later failure's (longer).
    return { failures, lockedUntil: Number(stored[1]), expiresAt: Number(stored[2]) };
  }

  async mark(key: string, expiresAt: number, now: number): Promise<void> {
    if (expiresAt <= now) return;
    const client = await this.#connection.ready();
    const ttl = Math.max(1, Math.round(expiresAt - now));
    await client
      .multi()
      .del(this.#prefix + key)
      .hset(this.#prefix + key, 'f', 0, 'l', 0, 'e', expiresAt)
      .pexpire(this.#prefix + key, ttl)
      .exec();
  }
}
