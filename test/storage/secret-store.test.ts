import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileStorage } from '../../src/adapters/file-storage.ts';
import { createMemoryStorage, StorageError } from '../../src/adapters/storage.ts';
import { parseStateKey } from '../../src/storage/sealed.ts';
import { createSecretStore } from '../../src/storage/secret-store.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});
const key = randomBytes(32);

describe('secret store', () => {
  it('seals values with a key: the file is 0600 and holds no plaintext', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-secrets-'));
    const secrets = createSecretStore(createFileStorage(dir), { key });
    await secrets.set('refresh_token', 'rt-very-secret-value');
    const raw = await readFile(join(dir, 'refresh_token'), 'utf8');
    expect(raw).not.toContain('rt-very-secret-value');
    expect(JSON.parse(raw)).toMatchObject({ sealed: 'A256GCM', v: 1 });
    expect((await stat(join(dir, 'refresh_token'))).mode & 0o777).toBe(0o600);
    expect(await secrets.get('refresh_token')).toBe('rt-very-secret-value');
  });

  it('refuses a wrong key, a tampered file and an entry moved to another name, naming the path', async () => {
    const storage = createMemoryStorage();
    await createSecretStore(storage, { key }).set('refresh_token', 'rt');
    await expect(createSecretStore(storage, { key: randomBytes(32) }).get('refresh_token')).rejects.toThrow(
      'memory:refresh_token: cannot decrypt',
    );

    const envelope = JSON.parse(storage.entries.get('refresh_token')!.toString());
    const flipped = Buffer.from(envelope.data, 'base64');
    flipped[0] = flipped[0]! ^ 1;
    await storage.write('tampered', JSON.stringify({ ...envelope, data: flipped.toString('base64') }));
    await expect(createSecretStore(storage, { key }).get('tampered')).rejects.toBeInstanceOf(StorageError);

    await storage.write('device_credential', storage.entries.get('refresh_token')!);
    await expect(createSecretStore(storage, { key }).get('device_credential')).rejects.toThrow('cannot decrypt');
  });

  it('says so when a sealed entry is read without a key', async () => {
    const storage = createMemoryStorage();
    await createSecretStore(storage, { key }).set('refresh_token', 'rt');
    await expect(createSecretStore(storage).get('refresh_token')).rejects.toThrow('no state key is configured');
  });

  it('reads a plaintext entry written before a key was set, and seals it on the next write', async () => {
    const storage = createMemoryStorage();
    await createSecretStore(storage).set('refresh_token', 'old-plain');
    const secrets = createSecretStore(storage, { key });
    expect(await secrets.get('refresh_token')).toBe('old-plain');
    await secrets.set('refresh_token', 'new');
    expect(storage.entries.get('refresh_token')!.toString()).not.toContain('new');
    expect(await secrets.get('refresh_token')).toBe('new');
  });

  it('parses keys as base64 or hex and refuses the wrong length', () => {
    expect(parseStateKey(key.toString('base64')).equals(key)).toBe(true);
    expect(parseStateKey(key.toString('hex')).equals(key)).toBe(true);
    expect(() => parseStateKey(randomBytes(16).toString('base64'))).toThrow('32 bytes');
  });
});
