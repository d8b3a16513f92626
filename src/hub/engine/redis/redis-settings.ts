import type { Redis } from 'ioredis';
import { getOrCreate } from '../../../util/get-or-create.ts';
import type { DocumentKey } from '../../settings/settings-documents.ts';
import type { SettingsBacking, StoredDocument } from '../../settings/settings-store.ts';
import { defineScript, type RedisScript } from './redis-client.ts';
import type { RedisKeys } from './redis-keys.ts';

// KEYS documents versions tenants; ARGV key document version tenant. Stored only on top of version - 1.
const WRITE = `
local stored = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if stored + 1 ~= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return 1`;

// KEYS epoch; ARGV fresh
const EPOCH = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;

/**
 * The settings documents in Redis, for `SettingsStore.openOn`: one hash of documents per tenant,
 * each write checked against the stored version in the same script (never a read, then a write),
 * and the epoch made once by whichever hub opens first.
 */
export class RedisSettingsBacking implements SettingsBacking {
  readonly #client: Redis;
  readonly #keys: RedisKeys;
  readonly #write: RedisScript;
  readonly #epoch: RedisScript;

  constructor(client: Redis, keys: RedisKeys) {
    this.#client = client;
    this.#keys = keys;
    this.#write = defineScript(client, 'ctSettingsWrite', WRITE);
    this.#epoch = defineScript(client, 'ctSettingsEpoch', EPOCH);
  }

  async open(freshEpoch: string): Promise<{ epoch: string; tenants: Map<string, Map<string, StoredDocument>> }> {
    const epoch = String(await this.#epoch([this.#keys.settings.epoch], [freshEpoch]));
    const tenants = new Map<string, Map<string, StoredDocument>>();
    for (const tenantId of await this.#client.smembers(this.#keys.settings.tenants)) {
      const documents = await this.#client.hgetall(this.#keys.settingsOf(tenantId).documents);
      for (const [key, text] of Object.entries(documents)) {
        getOrCreate(tenants, tenantId, () => new Map<string, StoredDocument>()).set(key, JSON.parse(text) as StoredDocument);
      }
    }
    return { epoch, tenants };
  }

  async write(tenantId: string, key: DocumentKey, document: StoredDocument): Promise<boolean> {
    const { documents, versions } = this.#keys.settingsOf(tenantId);
    return (
      (await this.#write(
        [documents, versions, this.#keys.settings.tenants],
        [key, JSON.stringify(document), document.version, tenantId],
      )) === 1
    );
  }
}
