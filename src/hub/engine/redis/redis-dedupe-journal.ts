import type { DedupeJournal } from '../../channels/dedupe-journal.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * An id into a window: a sorted set of ids by when they were taken (the hub's clock), trimmed to
 * the last `ARGV[3]`, living `ARGV[4]` ms after its last id.
 */
const TAKEN_LUA = `
redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/**
 * Dedupe windows in Redis ({@link DedupeJournal}): one sorted set per device, ids scored by
 * when they were taken, at most `limit` of them (ids taken in the same millisecond are trimmed
 * in id order), with a TTL renewed by each id, so a quiet device's window goes as it does in
 * memory. Each id is one script.
 *
 * @example
 * const journal = new RedisDedupeJournal(connection, 'cloudtether:channels:dedupe:');
 * await journal.taken('acme\u0000laptop-1', 'msg-1', now, 1_000, 3_600_000);
 * await journal.load('acme\u0000laptop-1'); // ['msg-1']
 */
export class RedisDedupeJournal implements DedupeJournal {
  readonly #connection: RedisConnection;
  readonly #prefix: string;
  readonly #taken;

  constructor(connection: RedisConnection, prefix: string) {
    this.#connection = connection;
    this.#prefix = prefix;
    this.#taken = connection.script('ctDedupeTaken', TAKEN_LUA);
  }

  async load(scope: string): Promise<string[]> {
    const client = await this.#connection.ready();
    return client.zrange(this.#prefix + scope, 0, -1);
  }

  async taken(scope: string, id: string, now: number, limit: number, ttlMs: number): Promise<void> {
    await this.#taken([this.#prefix + scope], [now, id, limit, Math.max(1, Math.round(ttlMs))]);
  }
}
