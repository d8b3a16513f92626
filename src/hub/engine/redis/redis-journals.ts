import type { Redis } from 'ioredis';
import type { ApiKeyJournal, StoredApiKey } from '../../api/api-keys.ts';
import type { RevocationJournal, RevocationState } from '../../auth/revocations.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { WriteThrough } from './write-through.ts';

/**
 * Revocations written through to Redis, each change one command (a device's tenants replaced
 * whole, a token id added with when to forget it, in one MULTI with the pruning of forgotten ones).
 */
export class RedisRevocationJournal implements RevocationJournal {
  constructor(
    readonly keys: RedisKeys,
    readonly writes: WriteThrough,
    readonly now: () => number,
  ) {}

  deviceChanged(deviceId: string, tenants: readonly string[]): void {
    const { devices } = this.keys.revocations;
    const value = JSON.stringify(tenants);
    this.writes.run((client) => (tenants.length === 0 ? client.hdel(devices, deviceId) : client.hset(devices, deviceId, value)));
  }

  tokenRevoked(jti: string, forgetAt: number): void {
    const { tokens } = this.keys.revocations;
    const now = this.now();
    this.writes.run((client) => client.multi().zremrangebyscore(tokens, '-inf', now).zadd(tokens, forgetAt, jti).exec());
  }

  /** What Redis holds. */
  static async load(client: Redis, keys: RedisKeys): Promise<RevocationState> {
    const { devices, tokens } = keys.revocations;
    const [byDevice, scored] = await Promise.all([client.hgetall(devices), client.zrange(tokens, 0, -1, 'WITHSCORES')]);
    const state: RevocationState = {
      devices: Object.entries(byDevice).map(([id, text]) => [id, JSON.parse(text) as string[]]),
      tokens: [],
    };
    for (let i = 0; i + 1 < scored.length; i += 2) state.tokens.push([scored[i]!, Number(scored[i + 1])]);
    return state;
  }
}

/** API keys written through to Redis: each key's record (hashes of secrets, never secrets) replaced whole. */
export class RedisApiKeyJournal implements ApiKeyJournal {
  constructor(
    readonly keys: RedisKeys,
    readonly writes: WriteThrough,
  ) {}

  stored(key: StoredApiKey): void {
    const value = JSON.stringify(key);
    this.writes.run((client) => client.hset(this.keys.apiKeys, key.id, value));
  }

  forgotten(key: StoredApiKey): void {
    this.writes.run((client) => client.hdel(this.keys.apiKeys, key.id));
  }

  /** What Redis holds. */
  static async load(client: Redis, keys: RedisKeys): Promise<StoredApiKey[]> {
    return Object.values(await client.hgetall(keys.apiKeys)).map((text) => JSON.parse(text) as StoredApiKey);
  }
}
