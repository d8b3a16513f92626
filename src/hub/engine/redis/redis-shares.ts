import type { Redis } from 'ioredis';
import type { Share } from '../../../api/contract.ts';
import { MAX_SHARES_PER_TENANT, newShare, type Shares } from '../../api/shares.ts';
import type { RedisConnection } from './redis-connection.ts';

/**
 * A share is stored unless its tenant holds `ARGV[4]` live ones: the tenant's ids are scored by
 * when they expire, and the expired are dropped first. The share lives until it expires (a TTL
 * of `ARGV[3]` ms); the tenant's set as long as its last share. Returns 1 when stored.
 */
const CREATE_LUA = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[5])
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.max(1, tonumber(last[2]) - now))
return 1
`;

/**
 * Share links in Redis, so a link made through one hub node opens through every node on the
 * same Redis, and after a restart of all of them. Each share is one JSON string with a TTL to its
 * expiry (Redis forgets it then); each tenant's live ids are a sorted set by expiry, which the
 * create script uses to hold a tenant to {@link MAX_SHARES_PER_TENANT} across nodes. Times are
 * the hub's clock; a share is also checked against it when read.
 *
 * @example
 * const shares = new RedisShares(connection, keys);
 * const share = await shares.create({ tenant_id: 'acme', resource, visibility: 'public', expires_at }, now, (id) => `https://hub/v1/shares/${id}`);
 */
export class RedisShares implements Shares {
  readonly #connection: RedisConnection;
  readonly #keys: { share(id: string): string; tenant(tenantId: string): string };
  readonly #create;

  constructor(connection: RedisConnection, keys: { share(id: string): string; tenant(tenantId: string): string }) {
    this.#connection = connection;
    this.#keys = keys;
    this.#create = connection.script('ctShareCreate', CREATE_LUA);
  }

  async create(share: Omit<Share, 'id' | 'url' | 'created_at'>, now: number, urlOf: (id: string) => string): Promise<Share | undefined> {
    const created = newShare(share, now, urlOf);
    const { id } = created;
    const ttl = Math.max(1, share.expires_at - now);
    const stored = await this.#create(
      [this.#keys.share(id), this.#keys.tenant(share.tenant_id)],
      [now, JSON.stringify(created), ttl, MAX_SHARES_PER_TENANT, id],
    );
    return stored === 1 ? created : undefined;
  }

  async get(id: string, now: number): Promise<Share | undefined> {
    const client: Redis = await this.#connection.ready();
    const text = await client.get(this.#keys.share(id));
    if (text === null) return undefined;
    const share = JSON.parse(text) as Share;
    return now < share.expires_at ? share : undefined;
  }
}
