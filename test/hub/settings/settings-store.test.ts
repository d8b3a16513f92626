import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../../src/adapters/storage.ts';
import { subjectKey, subjectOf } from '../../../src/hub/settings/settings-sessions.ts';
import { SettingsStore } from '../../../src/hub/settings/settings-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudtether-settings-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SettingsStore', () => {
  it('runs changes one at a time, so two writers on the same version get one success and one conflict', async () => {
    const store = await SettingsStore.open(undefined);
    const [first, second] = await Promise.all([
      store.patch('acme', 'user:ada', { a: 1 }, { version: 0 }),
      store.patch('acme', 'user:ada', { a: 2 }, { version: 0 }),
    ]);
    expect(first).toMatchObject({ ok: true, document: { version: 1, settings: { a: 1 } }, changes: { a: 1 } });
    expect(second).toEqual({ ok: false, reason: 'version_conflict', current: { epoch: store.epoch, version: 1, settings: { a: 1 } } });
  });

  it('answers a retried edit (same idempotency key) without applying it over a later change, across a restart', async () => {
    const path = join(dir, 'state', 'settings.json');
    const store = await SettingsStore.open(path);
    const { epoch } = store;
    await store.patch('acme', 'user:ada', { a: 1 }, { version: 0, epoch, editId: 'edit-1' });
    // Someone else removes it; the device, whose first answer was lost, retries the same edit.
    await store.patch('acme', 'user:ada', { a: null });
    const retry = await store.patch('acme', 'user:ada', { a: 1 }, { version: 0, epoch, editId: 'edit-1' });
    expect(retry).toMatchObject({ ok: true, replayed: true, changes: {}, document: { version: 2, settings: {} } });
    await store.close();
    const reopened = await SettingsStore.open(path);
    expect(await reopened.patch('acme', 'user:ada', { a: 1 }, { version: 0, epoch, editId: 'edit-1' })).toMatchObject({
      ok: true,
      replayed: true,
    });
    expect(reopened.document('acme', 'user:ada')).toMatchObject({ version: 2, settings: {} });
  });

  it('refuses a write made on a document of another epoch, even at the same version', async () => {
    const store = await SettingsStore.open(undefined);
    await store.patch('acme', 'user:ada', { a: 1 });
    const stale = await store.patch('acme', 'user:ada', { a: 2 }, { version: 1, epoch: 'set_of_a_store_that_was_lost' });
    expect(stale).toEqual({ ok: false, reason: 'version_conflict', current: { epoch: store.epoch, version: 1, settings: { a: 1 } } });
  });

  it('tells listeners of real changes only, with the keys that changed', async () => {
    const store = await SettingsStore.open(undefined);
    const seen: unknown[] = [];
    store.listeners.add((tenantId, key, document, changes) => seen.push({ tenantId, key, version: document.version, changes }));
    await store.patch('acme', 'org', { a: 1, b: [1, { c: 2 }] });
    await store.patch('acme', 'org', { a: 1, b: [1, { c: 2 }], gone: null });
    await store.patch('acme', 'org', { a: null, b: [1, { c: 2 }] });
    expect(seen).toEqual([
      { tenantId: 'acme', key: 'org', version: 1, changes: { a: 1, b: [1, { c: 2 }] } },
      { tenantId: 'acme', key: 'org', version: 2, changes: { a: null } },
    ]);
  });

  it('refuses what is not a settings patch, and keeps its own copy of what it takes', async () => {
    const store = await SettingsStore.open(undefined);
    for (const patch of [[1], 'x', null, { '': 1 }, { a: 10n }]) {
      await expect(store.patch('acme', 'org', patch as never)).rejects.toMatchObject({ code: 'invalid_settings' });
    }
    const value = { nested: true };
    const result = await store.patch('acme', 'org', { value, skipped: undefined });
    value.nested = false;
    expect(result).toMatchObject({ ok: true, document: { version: 1, settings: { value: { nested: true } } } });
    expect(store.document('acme', 'org').settings).toEqual({ value: { nested: true } });
    await store.close();
    await expect(store.patch('acme', 'org', { a: 1 })).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('keeps a `__proto__` key as a plain key, across a reload too', async () => {
    const path = join(dir, 'settings.json');
    const store = await SettingsStore.open(path);
    await store.patch('acme', 'org', JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'));
    await store.close();
    const reopened = await SettingsStore.open(path);
    const { settings } = reopened.document('acme', 'org');
    expect(Object.keys(settings)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(settings)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('writes the epoch when it creates the file, and refuses a file that is not a store', async () => {
    const path = join(dir, 'settings.json');
    const store = await SettingsStore.open(path);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ format: 1, epoch: store.epoch, tenants: {} });
    for (const content of ['{', '{"format":2}', '{"format":1,"epoch":"e","tenants":{"acme":{"other":{"version":0,"settings":{}}}}}']) {
      await writeFile(path, content);
      await expect(SettingsStore.open(path)).rejects.toBeInstanceOf(StorageError);
    }
  });

  it('leaves a document as it was, and tells no one, when the file cannot be written', async () => {
    const sub = join(dir, 'state');
    const store = await SettingsStore.open(join(sub, 'settings.json'));
    await store.patch('acme', 'org', { a: 1 });
    const seen: number[] = [];
    store.listeners.add((_tenant, _key, document) => seen.push(document.version));
    // The directory becomes a file: the next write cannot happen.
    await rm(sub, { recursive: true });
    await writeFile(sub, '');
    await expect(store.patch('acme', 'org', { a: 2 })).rejects.toBeInstanceOf(StorageError);
    expect(store.document('acme', 'org')).toMatchObject({ version: 1, settings: { a: 1 } });
    expect(seen).toEqual([]);
  });

  it('keeps reports per (tenant, device) as copies', async () => {
    const store = await SettingsStore.open(undefined);
    const reported = { org_version: 1, user_version: 0, pending_edits: 0, settings: { a: 1 } };
    store.report('acme', 'laptop-1', { reported, subject: 'device:laptop-1', received_at: 5 });
    reported.settings.a = 2;
    expect(store.reportOf('acme', 'laptop-1')).toEqual({
      reported: { ...reported, settings: { a: 1 } },
      subject: 'device:laptop-1',
      received_at: 5,
    });
    expect(store.reportOf('globex', 'laptop-1')).toBeUndefined();
  });
});

describe('settings subjects', () => {
  it("are the user's with a user token, else the device's", () => {
    expect(subjectKey(subjectOf({ device_id: 'laptop-1', user_id: 'ada' }))).toBe('user:ada');
    expect(subjectKey(subjectOf({ device_id: 'laptop-1' }))).toBe('device:laptop-1');
    expect(() => subjectKey({ userId: '' })).toThrow(expect.objectContaining({ code: 'invalid_settings' }));
  });
});
