import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileStorage } from '../../src/adapters/file-storage.ts';
import { createMemoryStorage, StorageError } from '../../src/adapters/storage.ts';
import { resolveDeviceIdentity } from '../../src/storage/device-identity.ts';

let dir: string;
afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

describe('device identity', () => {
  it('generates an id once, writes it 0600, and finds the same id on the next start', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-id-'));
    const storage = createFileStorage(join(dir, 'state'));
    const first = await resolveDeviceIdentity({ storage, env: {} });
    expect(first.source).toBe('generated');
    expect(first.deviceId).toMatch(/^dev_[0-9a-f]{32}$/);
    expect((await stat(join(dir, 'state', 'device_id'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, 'state', 'device_id'), 'utf8')).toBe(`${first.deviceId}\n`);
    const again = await resolveDeviceIdentity({ storage: createFileStorage(join(dir, 'state')), env: {} });
    expect(again).toEqual({ deviceId: first.deviceId, source: 'file' });
  });

  it('prefers the configured id, then DEVICE_ID, then the file, and writes nothing for the first two', async () => {
    const storage = createMemoryStorage({ device_id: 'from-file\n' });
    expect(await resolveDeviceIdentity({ storage, configured: 'from-config', env: { DEVICE_ID: 'from-env' } })).toEqual({
      deviceId: 'from-config',
      source: 'config',
    });
    expect(await resolveDeviceIdentity({ storage, env: { DEVICE_ID: ' from-env ' } })).toEqual({ deviceId: 'from-env', source: 'env' });
    expect(await resolveDeviceIdentity({ storage, env: { DEVICE_ID: '' } })).toEqual({ deviceId: 'from-file', source: 'file' });
    expect(storage.entries.get('device_id')!.toString()).toBe('from-file\n');
  });

  it.each([
    ['', 'empty'],
    ['has spaces in it', 'spaces'],
    ['\u0000\u0001binary', 'binary'],
    ['x'.repeat(300), 'too long'],
  ])('refuses a corrupt file (%s: %s) with an error naming the path, never a new identity', async (content) => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-id-'));
    await writeFile(join(dir, 'device_id'), content, { mode: 0o600 });
    const error = await resolveDeviceIdentity({ storage: createFileStorage(dir), env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).path).toBe(join(dir, 'device_id'));
    expect(await readFile(join(dir, 'device_id'), 'utf8')).toBe(content);
  });

  it('refuses an invalid DEVICE_ID rather than sending it to the hub', async () => {
    await expect(resolveDeviceIdentity({ storage: createMemoryStorage(), env: { DEVICE_ID: 'a b' } })).rejects.toThrow('DEVICE_ID');
  });
});
