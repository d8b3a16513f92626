import type { Redis } from 'ioredis';
import type { ApiKeyChange, ApiKeyJournal, StoredApiKey } from '../../api/api-keys.ts';
import type { RevocationJournal, RevocationState } from '../../auth/revocations.ts';
import { defineScript, type RedisScript } from './redis-client.ts';
import type { RedisConnection } from './redis-connection.ts';
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

/**
 * One change merged into a key's record (its JSON, in place): a use counts and moves
 * `last_used_at` forward; a revocation keeps the first time; a rotation takes only on a key not
 * revoked. KEYS: the keys' hash; ARGV: id, kind, value. Numbers are times in ms and counts, which
 * cjson keeps exact (below 10^14).
 */
const CHANGE_LUA = `
local text = redis.call('HGET', KEYS[1], ARGV[1])
if not text then return 0 end
local key = cjson.decode(text)
if ARGV[2] == 'used' then
  local at = tonumber(ARGV[3])
  key.use_count = (tonumber(key.use_count) or 0) + 1
  if key.last_used_at == cjson.null or at > key.last_used_at then key.last_used_at = at end
elseif ARGV[2] == 'revoked' then
  if key.revoked_at ~= cjson.null then return 0 end
  key.revoked_at = tonumber(ARGV[3])
elseif ARGV[2] == 'rotated' then
  if key.revoked_at ~= cjson.null then return 0 end
  key.secret_hash = ARGV[3]
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(key))
return 1
`;

/**
 * API keys written through to Redis (hashes of secrets, never secrets): a key made is stored
 * whole, a change merged into what Redis holds (a script), and `changed` is told once the write
 * is issued, for the other hub nodes (on the same connection, so they read after the write).
 * Each presented key is read again from Redis ({@link RedisApiKeyJournal.read}).
 */
export class RedisApiKeyJournal implements ApiKeyJournal {
  readonly #script = new WeakMap<Redis, RedisScript>();
  /** The last write issued: Redis answers one connection's commands in order. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(
    readonly keys: RedisKeys,
    readonly writes: WriteThrough,
    readonly connection: RedisConnection,
    readonly notify: (id: string) => void = () => {},
  ) {}

  stored(key: StoredApiKey): void {
    const value = JSON.stringify(key);
    this.#run((client) => client.hset(this.keys.apiKeys, key.id, value));
    this.notify(key.id);
  }

  changed(key: StoredApiKey, change: ApiKeyChange): void {
    const value = change.kind === 'rotated' ? change.secret_hash : change.at;
    this.#run((client) => this.#change(client)([this.keys.apiKeys], [key.id, change.kind, value]));
    // A use changes nothing another node decides on: not worth a note.
    if (change.kind !== 'used') this.notify(key.id);
  }

  forgotten(key: StoredApiKey): void {
    this.#run((client) => client.hdel(this.keys.apiKeys, key.id));
  }

  async settled(): Promise<void> {
    await this.#last;
  }

  #run(write: (client: Redis) => Promise<unknown>): void {
    this.writes.run((client) => (this.#last = write(client)));
  }

  async read(id: string): Promise<StoredApiKey | undefined> {
    const client = await this.connection.ready();
    const text = await client.hget(this.keys.apiKeys, id);
    return text === null ? undefined : (JSON.parse(text) as StoredApiKey);
  }

  #change(client: Redis): RedisScript {
    let script = this.#script.get(client);
    if (!script) this.#script.set(client, (script = defineScript(client, 'ctApiKeyChange', CHANGE_LUA)));
    return script;
  }

  /** What Redis holds. */
  static async load(client: Redis, keys: RedisKeys): Promise<StoredApiKey[]> {
    return Object.values(await client.hgetall(keys.apiKeys)).map((text) => JSON.parse(text) as StoredApiKey);
  }
}
