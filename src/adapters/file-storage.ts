import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { assertEntryName, type StorageAdapter, StorageError } from './storage.ts';

/** Default state directory: `~/.cloudtether`. */
export function defaultStateDir(): string {
  return join(homedir(), '.cloudtether');
}

/**
 * The real storage adapter: one file per entry in a directory kept at mode `0700`, each file
 * `0600`, written atomically (temporary file, fsync, rename, fsync of the directory).
 *
 * @example
 * const storage = createFileStorage(process.env.CLOUDTETHER_STATE_DIR ?? defaultStateDir());
 */
export function createFileStorage(dir: string): StorageAdapter {
  let ready: Promise<void> | undefined;
  // Created on first use, and tightened if it already existed with wider permissions.
  const ensureDir = () =>
    (ready ??= (async () => {
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        if (((await stat(dir)).mode & 0o077) !== 0) await chmod(dir, 0o700);
      } catch (error) {
        ready = undefined;
        throw new StorageError(dir, `cannot prepare the state directory (${codeOf(error)})`, error);
      }
    })());

  return {
    location: dir,
    async read(name) {
      assertEntryName(name);
      const path = join(dir, name);
      try {
        return await readFile(path);
      } catch (error) {
        if (codeOf(error) === 'ENOENT') return undefined;
        throw new StorageError(path, `cannot read (${codeOf(error)})`, error);
      }
    },
    async write(name, data) {
      assertEntryName(name);
      await ensureDir();
      const path = join(dir, name);
      const temporary = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        const file = await open(temporary, 'wx', 0o600);
        try {
          await file.writeFile(data);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temporary, path);
        await syncDir(dir);
      } catch (error) {
        await unlink(temporary).catch(() => {});
        throw new StorageError(path, `cannot write (${codeOf(error)})`, error);
      }
    },
    async remove(name) {
      assertEntryName(name);
      const path = join(dir, name);
      try {
        await unlink(path);
        await syncDir(dir);
      } catch (error) {
        if (codeOf(error) !== 'ENOENT') throw new StorageError(path, `cannot remove (${codeOf(error)})`, error);
      }
    },
  };
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? 'unknown error';
}
