import { entryPath, type StorageAdapter, StorageError } from '../adapters/storage.ts';
import { isSealed, seal, unseal } from './sealed.ts';

/** Credentials at rest (refresh token, device credential): never logged, sealed when a key is set. */
export interface SecretStore {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
  /** True when values are encrypted at rest. */
  readonly sealed: boolean;
}

/**
 * Stores secrets as entries of a storage adapter (files are `0600` either way). With a `key`
 * (32 bytes, see `parseStateKey`) every value is sealed with AES-256-GCM; a plaintext entry
 * written before a key was configured is still read, and sealed on its next write. Without a
 * key, a sealed entry is an error naming the file rather than a silent logout.
 *
 * @example
 * const secrets = createSecretStore(createFileStorage(dir), { key: parseStateKey(process.env.CLOUDTETHER_STATE_KEY!) });
 * await secrets.set('refresh_token', token);
 */
export function createSecretStore(storage: StorageAdapter, options: { key?: Buffer | undefined } = {}): SecretStore {
  const { key } = options;
  return {
    sealed: key !== undefined,
    async get(name) {
      const content = await storage.read(name);
      if (content === undefined) return undefined;
      if (!isSealed(content)) return content.toString('utf8');
      if (!key) throw new StorageError(entryPath(storage, name), 'is encrypted, but no state key is configured (CLOUDTETHER_STATE_KEY)');
      return unseal(content, key, name, entryPath(storage, name)).toString('utf8');
    },
    async set(name, value) {
      await storage.write(name, key ? seal(value, key, name) : value);
    },
    async delete(name) {
      await storage.remove(name);
    },
  };
}
