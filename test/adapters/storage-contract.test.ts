import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileStorage } from '../../src/adapters/file-storage.ts';
import { createMemoryStorage, type StorageAdapter, StorageError } from '../../src/adapters/storage.ts';

const dirs: string[] = [];
afterEach(async () => {
  while (dirs.length > 0) await rm(dirs.pop()!, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudtether-storage-'));
  dirs.push(dir);
  return dir;
}

const implementations: Array<[string, () => Promise<StorageAdapter>]> = [
  ['file', async () => createFileStorage(join(await tempDir(), 'state'))],
  ['memory', async () => createMemoryStorage()],
];

describe.each(implementations)('storage contract: %s', (_name, make) => {
  it('reads what was written, and undefined for what was not', async () => {
    const storage = await make();
    expect(await storage.read('device_id')).toBeUndefined();
    await storage.write('device_id', 'dev-1\n');
    expect((await storage.read('device_id'))!.toString()).toBe('dev-1\n');
    await storage.write('device_id', Buffer.from('dev-2\n'));
    expect((await storage.read('device_id'))!.toString()).toBe('dev-2\n');
  });

  it('removes, and removing twice is fine', async () => {
    const storage = await make();
    await storage.write('a.json', '{}');
    await storage.remove('a.json');
    await storage.remove('a.json');
    expect(await storage.read('a.json')).toBeUndefined();
  });

  it.each(['../escape', 'a/b', '', '.hidden', 'x'.repeat(200), 'a..b'])('refuses the entry name %j', async (name) => {
    const storage = await make();
    await expect(storage.write(name, 'x')).rejects.toBeInstanceOf(StorageError);
    await expect(storage.read(name)).rejects.toBeInstanceOf(StorageError);
  });

  it('keeps one whole value when writes race', async () => {
    const storage = await make();
    const values = Array.from({ length: 20 }, (_, i) => `value-${i}-${'x'.repeat(10_000)}`);
    await Promise.all(values.map((v) => storage.write('race', v)));
    expect(values).toContain((await storage.read('race'))!.toString());
  });
});

describe('file storage', () => {
  it('creates the directory 0700 and files 0600, and tightens a directory that was too open', async () => {
    const dir = join(await tempDir(), 'state');
    await createFileStorage(dir).write('device_id', 'dev-1\n');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'device_id'))).mode & 0o777).toBe(0o600);

    const open = await tempDir();
    const { chmod } = await import('node:fs/promises');
    await chmod(open, 0o755);
    await createFileStorage(open).write('x', '1');
    expect((await stat(open)).mode & 0o777).toBe(0o700);
  });

  it('leaves no temporary files behind, and ignores one a crashed write left', async () => {
    const dir = join(await tempDir(), 'state');
    const storage = createFileStorage(dir);
    await storage.write('credentials.json', 'old');
    await writeFile(join(dir, '.credentials.json.deadbeef0000.tmp'), 'half a write');
    await storage.write('credentials.json', 'new');
    expect((await storage.read('credentials.json'))!.toString()).toBe('new');
    expect((await readdir(dir)).filter((f) => !f.startsWith('.'))).toEqual(['credentials.json']);
  });

  it('names the path when an entry cannot be read', async () => {
    const dir = join(await tempDir(), 'state');
    const storage = createFileStorage(dir);
    await storage.write('x', '1');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'device_id')); // a directory where a file should be: EISDIR
    const error = await storage.read('device_id').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).path).toBe(join(dir, 'device_id'));
    expect((error as Error).message).toContain('EISDIR');
  });

  it('names the directory when it cannot be created', async () => {
    const parent = await tempDir();
    await writeFile(join(parent, 'file'), 'not a directory');
    const error = await createFileStorage(join(parent, 'file', 'state'))
      .write('x', '1')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toContain(join(parent, 'file', 'state'));
  });
});
