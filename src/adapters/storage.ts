import { join } from 'node:path';

/**
 * The storage adapter: the only way the connector touches its state directory (device id,
 * credentials, later the outbox and settings cache). `createFileStorage` (src/adapters/file-storage.ts)
 * is the real one; `createMemoryStorage` is for unit tests. Both pass the same contract tests.
 *
 * Contract:
 * - Names are flat (`device_id`, `credentials.json`): letters, digits, `.`, `_`, `-`.
 * - `write` is atomic: a reader sees the old content or the new, never a mix, even if the
 *   process dies half way; the entry is readable by its owner only.
 * - `read` of a missing entry resolves `undefined`; any other failure rejects with a
 *   {@link StorageError} naming the path.
 */
export interface StorageAdapter {
  /** Where entries live, for messages (a directory for files, `memory:` otherwise). */
  readonly location: string;
  read(name: string): Promise<Buffer | undefined>;
  write(name: string, data: string | Buffer): Promise<void>;
  remove(name: string): Promise<void>;
}

/** A storage failure, naming the entry's path so a person can go and look. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly path: string,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(`${path}: ${message}`);
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Throws unless `name` is a flat entry name (no separators, no `..`). */
export function assertEntryName(name: string): void {
  if (!NAME.test(name) || name.includes('..')) throw new StorageError(name, 'not a valid storage entry name');
}

/** Where an entry lives, for messages: a file path, or `memory:<name>`. */
export function entryPath(storage: StorageAdapter, name: string): string {
  return storage.location === 'memory:' ? `memory:${name}` : join(storage.location, name);
}

/**
 * An in-memory storage for unit tests.
 *
 * @example
 * const storage = createMemoryStorage();
 * await storage.write('device_id', 'dev-1\n');
 */
export function createMemoryStorage(initial: Record<string, string | Buffer> = {}): StorageAdapter & { entries: Map<string, Buffer> } {
  const entries = new Map(Object.entries(initial).map(([k, v]) => [k, Buffer.from(v)]));
  return {
    location: 'memory:',
    entries,
    async read(name) {
      assertEntryName(name);
      const value = entries.get(name);
      return value === undefined ? undefined : Buffer.from(value);
    },
    async write(name, data) {
      assertEntryName(name);
      entries.set(name, Buffer.from(data));
    },
    async remove(name) {
      assertEntryName(name);
      entries.delete(name);
    },
  };
}
