import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHub, HubError } from '../../../src/hub/index.ts';
import { MAX_SETTINGS_BYTES } from '../../../src/protocol/settings-document.ts';
import { envelope, type Frame, startHub, TestClient, TOKEN } from '../helpers.ts';
import { ADMIN, login, startUserHub } from '../user-helpers.ts';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

type Who = { device_id: string; tenant_id: string; token: string };
const DEVICE_1: Who = { device_id: 'device-1', tenant_id: 'tenant-1', token: TOKEN };

/** A request as a device: its bearer and the `x-device-id` / `x-tenant-id` headers. */
const asDevice = (who: Who): Record<string, string> => ({
  authorization: `Bearer ${who.token}`,
  'x-device-id': who.device_id,
  'x-tenant-id': who.tenant_id,
});
const asAdmin: Record<string, string> = { authorization: `Bearer ${ADMIN}` };

async function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

/** Connects and subscribes; resolves with the client and its `settings_subscribed`. */
async function subscribed(url: string, who: Partial<Who> = {}): Promise<{ client: TestClient; answer: Frame }> {
  const { client } = await TestClient.connect(url, who);
  client.send(envelope('settings_subscribe'));
  return { client, answer: await client.next() };
}

/**
 * Asserts that nothing reached the client before now: frames on a socket keep their order and
 * pushes go out before the HTTP answer, so the heartbeat's ack comes first when nothing was pushed.
 */
async function expectNothingPushed(client: TestClient): Promise<void> {
  const seq = client.heartbeat();
  expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
}

describe('device settings routes', () => {
  it('answers both documents at version 0, then takes user patches on the current version only', async () => {
    const { hub, port } = await startHub();
    const device = asDevice(DEVICE_1);
    const first = await call(port, 'GET', '/v1/settings', device);
    expect(first.status).toBe(200);
    const epoch = first.body.epoch as string;
    expect(first.body).toEqual({
      epoch: expect.stringMatching(/^set_/),
      org: { version: 0, settings: {} },
      user: { version: 0, settings: {} },
    });

    const patched = await call(port, 'PATCH', '/v1/settings/user', device, { version: 0, patch: { theme: 'dark', font: 12 } });
    expect(patched).toMatchObject({ status: 200, body: { epoch, version: 1, settings: { theme: 'dark', font: 12 } } });

    const stale = await call(port, 'PATCH', '/v1/settings/user', device, { version: 0, patch: { theme: 'light' } });
    expect(stale.status).toBe(409);
    expect(stale.body).toEqual({
      error: 'version_conflict',
      message: expect.any(String),
      current: { epoch, version: 1, settings: { theme: 'dark', font: 12 } },
    });

    // Values equal to what is there change nothing: the version stays.
    const same = await call(port, 'PATCH', '/v1/settings/user', device, { version: 1, patch: { theme: 'dark', gone: null } });
    expect(same.body).toEqual({ epoch, version: 1, settings: { theme: 'dark', font: 12 } });

    const removed = await call(port, 'PATCH', '/v1/settings/user', device, { version: 1, patch: { font: null, nested: { a: [1, 2] } } });
    expect(removed.body).toEqual({ epoch, version: 2, settings: { theme: 'dark', nested: { a: [1, 2] } } });
    expect((await call(port, 'GET', '/v1/settings/user', device)).body).toEqual(removed.body);
    // The device's user document is the device's subject; devices are told their scope's epoch.
    expect(hub.settings.user('tenant-1', { deviceId: 'device-1' })).toEqual({ ...removed.body, epoch: hub.settings.org('tenant-1').epoch });
    expect(epoch).toBe(hub.settings.deviceEpoch('tenant-1', { deviceId: 'device-1' }));
    expect(hub.settings.deviceEpoch('tenant-2', { deviceId: 'device-1' })).not.toBe(epoch);
    // A write made in another scope's epoch is a conflict even at the right version.
    const elsewhere = await call(port, 'PATCH', '/v1/settings/user', device, {
      version: 2,
      epoch: hub.settings.deviceEpoch('tenant-1', { userId: 'ada' }),
      patch: { font: 9 },
    });
    expect(elsewhere).toMatchObject({ status: 409, body: { current: { epoch, version: 2 } } });
    expect(hub.settings.user('tenant-1', { deviceId: 'device-2' }).version).toBe(0);
  });

  it('refuses bad bodies (400) and patches or documents over the limit (413)', async () => {
    const { port } = await startHub();
    const device = asDevice(DEVICE_1);
    const patch = (body: unknown) => call(port, 'PATCH', '/v1/settings/user', device, body);

    for (const body of [
      'not json',
      [],
      { patch: { a: 1 } },
      { version: -1, patch: {} },
      { version: 0, patch: [1] },
      { version: 0, patch: { '': 1 } },
      { version: 0, patch: { ['k'.repeat(129)]: 1 } },
    ]) {
      const answer = await patch(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
    }

    const huge = await patch({ version: 0, patch: { blob: 'x'.repeat(MAX_SETTINGS_BYTES + 10) } });
    expect(huge).toMatchObject({ status: 413, body: { error: 'too_large' } });
    // Just under the body limit, but the patch itself is over 64 KiB of JSON.
    const justOver = await patch({ version: 0, patch: { blob: 'x'.repeat(MAX_SETTINGS_BYTES - 5) } });
    expect(justOver).toMatchObject({ status: 413, body: { error: 'too_large' } });

    const half = 'x'.repeat(MAX_SETTINGS_BYTES / 2);
    expect((await patch({ version: 0, patch: { a: half } })).status).toBe(200);
    // Each patch fits; the document both would make does not.
    expect(await patch({ version: 1, patch: { b: half } })).toMatchObject({ status: 413, body: { error: 'too_large' } });
    expect((await call(port, 'GET', '/v1/settings/user', device)).body).toMatchObject({ version: 1 });
  });

  it('keeps organization settings read-only to devices (403)', async () => {
    const { hub, port } = await startHub();
    await hub.settings.patchOrg('tenant-1', { theme: 'dark' });
    const device = asDevice(DEVICE_1);
    expect(await call(port, 'PATCH', '/v1/settings/org', device, { version: 1, patch: { theme: 'light' } })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    expect((await call(port, 'GET', '/v1/settings/org', device)).body).toMatchObject({ version: 1, settings: { theme: 'dark' } });
    expect((await call(port, 'DELETE', '/v1/settings', device)).status).toBe(405);
  });

  it('refuses (401) a request without a credential, with a bad one, or another tenant claimed with a hub token', async () => {
    const { port } = await startHub();
    const refused = [
      await call(port, 'GET', '/v1/settings'),
      await call(port, 'GET', '/v1/settings', { 'x-device-id': 'device-1', 'x-tenant-id': 'tenant-1' }),
      await call(port, 'GET', '/v1/settings', asDevice({ ...DEVICE_1, token: 'wrong-token' })),
      await call(port, 'GET', '/v1/settings', { authorization: `Bearer ${TOKEN}`, 'x-tenant-id': 'tenant-1' }),
      await call(port, 'PATCH', '/v1/settings/user', asDevice({ ...DEVICE_1, token: 'wrong-token' }), { version: 0, patch: { a: 1 } }),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'unauthorized' });
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    }

    const tokens = await startUserHub();
    const { token } = await tokens.hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    const own = await call(tokens.port, 'GET', '/v1/settings', asDevice({ ...DEVICE_1, token }));
    expect(own.status).toBe(200);
    const otherTenant = await call(tokens.port, 'GET', '/v1/settings', asDevice({ device_id: 'device-1', tenant_id: 'tenant-2', token }));
    expect(otherTenant.status).toBe(401);
    const otherDevice = await call(tokens.port, 'GET', '/v1/settings', asDevice({ device_id: 'device-2', tenant_id: 'tenant-1', token }));
    expect(otherDevice.status).toBe(401);
    tokens.hub.revokeDevice('device-1', { tenantId: 'tenant-1' });
    expect((await call(tokens.port, 'GET', '/v1/settings', asDevice({ ...DEVICE_1, token }))).status).toBe(401);
  });
});

describe('pushes to subscribed sessions', () => {
  it('answers settings_subscribed with the current versions of the tenant and the subject', async () => {
    const { hub, url } = await startHub();
    await hub.settings.patchOrg('tenant-1', { a: 1 });
    await hub.settings.patchOrg('tenant-1', { a: 2 });
    await hub.settings.patchUser('tenant-1', { deviceId: 'device-1' }, { b: true });
    await hub.settings.patchUser('tenant-1', { deviceId: 'device-2' }, { b: false });
    const { answer } = await subscribed(url);
    expect(answer).toMatchObject({
      type: 'settings_subscribed',
      epoch: hub.settings.deviceEpoch('tenant-1', { deviceId: 'device-1' }),
      org_version: 2,
      user_version: 1,
    });
    const other = await subscribed(url, { device_id: 'device-3', tenant_id: 'tenant-2' });
    expect(other.answer).toMatchObject({ org_version: 0, user_version: 0 });
  });

  it("pushes an operator's org patch to the tenant's subscribed sessions only", async () => {
    const { hub, url, port } = await startHub({ staticToken: TOKEN, adminToken: ADMIN });
    const { client: subscriber } = await subscribed(url);
    const { client: otherTenant } = await subscribed(url, { device_id: 'device-1', tenant_id: 'tenant-2' });
    const { client: unsubscribed } = await TestClient.connect(url, { device_id: 'device-2' });

    const patched = await call(port, 'PATCH', '/v1/tenants/tenant-1/settings', asAdmin, { patch: { theme: 'dark', unknown: null } });
    expect(patched).toMatchObject({ status: 200, body: { version: 1, settings: { theme: 'dark' } } });
    const epoch = patched.body.epoch;
    // Only the keys that changed are pushed, in the epoch the device was told (its scope's).
    expect(await subscriber.next()).toMatchObject({
      type: 'settings_patch',
      epoch: hub.settings.deviceEpoch('tenant-1', { deviceId: 'device-1' }),
      document: 'org',
      version: 1,
      patch: { theme: 'dark' },
    });
    await expectNothingPushed(otherTenant);
    await expectNothingPushed(unsubscribed);

    // A patch that changes nothing is not pushed; the hub API pushes like the route.
    expect(await call(port, 'PATCH', '/v1/tenants/tenant-1/settings', asAdmin, { patch: { theme: 'dark' }, version: 1 })).toMatchObject({
      status: 200,
      body: { version: 1 },
    });
    await hub.settings.patchOrg('tenant-1', { theme: null });
    expect(await subscriber.next()).toEqual(
      expect.objectContaining({ type: 'settings_patch', document: 'org', version: 2, patch: { theme: null } }),
    );

    expect(await call(port, 'PATCH', '/v1/tenants/tenant-1/settings', asAdmin, { patch: { theme: 'light' }, version: 1 })).toMatchObject({
      status: 409,
      body: { error: 'version_conflict', current: { version: 2, settings: {} } },
    });
    expect((await call(port, 'GET', '/v1/tenants/tenant-1/settings', asAdmin)).body).toEqual({ epoch, version: 2, settings: {} });
    expect((await call(port, 'GET', '/v1/tenants/tenant-1/settings')).status).toBe(401);
    expect((await call(port, 'PATCH', '/v1/tenants/tenant-1/settings', asAdmin, { patch: 'dark' })).status).toBe(400);
    expect((await call(port, 'GET', '/v1/tenants/%E0%A4%A/settings', asAdmin)).status).toBe(400);
    await expectNothingPushed(subscriber);
  });

  it("pushes a user document's changes to that subject's sessions only, the writer's included", async () => {
    const { hub, url, port } = await startHub({ staticToken: TOKEN, adminToken: ADMIN });
    const { client: one } = await subscribed(url);
    const { client: two } = await subscribed(url, { device_id: 'device-2' });

    const answer = await call(port, 'PATCH', '/v1/tenants/tenant-1/devices/device-2/settings', asAdmin, { patch: { font: 14 } });
    expect(answer.body).toMatchObject({ version: 1, settings: { font: 14 } });
    expect(await two.next()).toMatchObject({ type: 'settings_patch', document: 'user', version: 1, patch: { font: 14 } });
    await expectNothingPushed(one);

    await call(port, 'PATCH', '/v1/settings/user', asDevice(DEVICE_1), { version: 0, patch: { font: 10 } });
    expect(await one.next()).toMatchObject({ type: 'settings_patch', document: 'user', version: 1, patch: { font: 10 } });
    await expectNothingPushed(two);
    expect((await call(port, 'GET', '/v1/tenants/tenant-1/devices/device-1/settings', asAdmin)).body).toMatchObject({
      version: 1,
      settings: { font: 10 },
    });
    // Path segments are URI-decoded: this is the user document of `user:ada@example.com`.
    await call(port, 'PATCH', '/v1/tenants/tenant-1/users/ada%40example.com/settings', asAdmin, { patch: { font: 9 } });
    expect(hub.settings.user('tenant-1', { userId: 'ada@example.com' })).toMatchObject({ version: 1, settings: { font: 9 } });
  });

  it('follows the user, not the device, for sessions and requests made with a user token', async () => {
    const { hub, url, port } = await startUserHub();
    const onOne = await login(hub, port, { deviceId: 'device-1' });
    const onTwo = await login(hub, port, { deviceId: 'device-2' });
    const bob = await login(hub, port, { deviceId: 'device-3', userId: 'bob' });
    const ada1 = { device_id: 'device-1', tenant_id: 'acme', token: onOne.access_token };
    const { client: first } = await subscribed(url, ada1);
    const { client: second } = await subscribed(url, { device_id: 'device-2', tenant_id: 'acme', token: onTwo.access_token });
    const { client: other } = await subscribed(url, { device_id: 'device-3', tenant_id: 'acme', token: bob.access_token });
    expect(hub.devices().find((session) => session.device_id === 'device-1')).toMatchObject({ user_id: 'ada' });

    const answer = await call(port, 'PATCH', '/v1/settings/user', asDevice(ada1), { version: 0, patch: { theme: 'dark' } });
    expect(answer.body).toMatchObject({ version: 1, settings: { theme: 'dark' } });
    for (const client of [first, second])
      expect(await client.next()).toMatchObject({ type: 'settings_patch', document: 'user', version: 1, patch: { theme: 'dark' } });
    await expectNothingPushed(other);
    expect(hub.settings.user('acme', { userId: 'ada' }).settings).toEqual({ theme: 'dark' });
    expect(hub.settings.user('acme', { deviceId: 'device-1' }).version).toBe(0);

    await call(port, 'PATCH', '/v1/tenants/acme/users/ada/settings', asAdmin, { patch: { theme: 'light' }, version: 1 });
    expect(await second.next()).toMatchObject({ type: 'settings_patch', version: 2, patch: { theme: 'light' } });
    const snapshot = await call(
      port,
      'GET',
      '/v1/settings',
      asDevice({ device_id: 'device-2', tenant_id: 'acme', token: onTwo.access_token }),
    );
    expect(snapshot.body).toMatchObject({ user: { version: 2, settings: { theme: 'light' } } });
  });

  it('ends a subscription with its session: the next session of the device subscribes anew', async () => {
    const { hub, url } = await startHub();
    const { client } = await subscribed(url);
    await client.close();
    const { client: again } = await TestClient.connect(url);
    await hub.settings.patchOrg('tenant-1', { a: 1 });
    await expectNothingPushed(again);
  });
});

describe('reported settings', () => {
  it('keeps what a device reported and says whether it drifts', async () => {
    const { hub, url, port } = await startHub({ staticToken: TOKEN, adminToken: ADMIN });
    const path = '/v1/tenants/tenant-1/devices/device-1/settings/reported';
    const none = await call(port, 'GET', path, asAdmin);
    const epoch = hub.settings.deviceEpoch('tenant-1', { deviceId: 'device-1' });
    expect(none.body).toEqual({
      reported: null,
      received_at: null,
      subject: 'device:device-1',
      current: { epoch, org_version: 0, user_version: 0 },
      drift: false,
    });

    const { client } = await subscribed(url);
    const report = { epoch, org_version: 0, user_version: 0, pending_edits: 0, settings: { theme: 'light' } };
    client.send(envelope('settings_reported', report));
    await expectNothingPushed(client); // the report was handled before the heartbeat
    const inSync = await call(port, 'GET', path, asAdmin);
    expect(inSync.body).toEqual({
      reported: report,
      received_at: expect.any(Number),
      subject: 'device:device-1',
      current: { epoch, org_version: 0, user_version: 0 },
      drift: false,
    });

    await hub.settings.patchOrg('tenant-1', { theme: 'dark' });
    expect(await client.next()).toMatchObject({ type: 'settings_patch', version: 1 });
    expect((await call(port, 'GET', path, asAdmin)).body).toMatchObject({ current: { org_version: 1 }, drift: true });

    const rejected = { document: 'org', version: 1, issues: [{ path: ['theme'], message: 'expected light' }] };
    client.send(envelope('settings_reported', { epoch, org_version: 1, user_version: 0, pending_edits: 0, rejected }));
    await expectNothingPushed(client);
    expect(hub.settings.reported('tenant-1', 'device-1')).toMatchObject({ reported: { org_version: 1, rejected }, drift: true });

    client.send(envelope('settings_reported', { epoch: 'set_other', org_version: 1, user_version: 0 }));
    await expectNothingPushed(client);
    expect(hub.settings.reported('tenant-1', 'device-1')).toMatchObject({
      reported: { epoch: 'set_other', pending_edits: 0 },
      drift: true,
    });
    client.send(envelope('settings_reported', { epoch, org_version: 1, user_version: 0 }));
    await expectNothingPushed(client);
    expect(hub.settings.reported('tenant-1', 'device-1').drift).toBe(false);
    expect((await call(port, 'POST', path, asAdmin)).status).toBe(405);
  });
});

describe('the settings store of a hub', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('keeps epoch, versions and documents across a restart with the same settingsPath', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-settings-'));
    const settingsPath = join(dir, 'settings.json');
    const first = await startHub({ staticToken: TOKEN, settingsPath });
    await first.hub.settings.patchOrg('tenant-1', { theme: 'dark' });
    await first.hub.settings.patchOrg('tenant-1', { beta: true });
    await first.hub.settings.patchUser('tenant-1', { userId: 'ada' }, { font: 12 });
    const epoch = first.hub.settings.org('tenant-1').epoch;
    await first.hub.close();
    expect((await stat(settingsPath)).mode & 0o777).toBe(0o600);

    const second = await startHub({ staticToken: TOKEN, settingsPath });
    expect(second.hub.settings.org('tenant-1')).toEqual({ epoch, version: 2, settings: { theme: 'dark', beta: true } });
    expect(second.hub.settings.user('tenant-1', { userId: 'ada' })).toEqual({ epoch, version: 1, settings: { font: 12 } });
    const { answer } = await subscribed(second.url);
    expect(answer).toMatchObject({
      epoch: second.hub.settings.deviceEpoch('tenant-1', { deviceId: 'device-1' }),
      org_version: 2,
      user_version: 0,
    });
    expect(answer.epoch).toBe(`${epoch}.${(answer.epoch as string).split('.').at(-1)}`);
  });

  it('starts a fresh epoch per hub without a path, and opens with listen()', async () => {
    const one = await startHub();
    const two = await startHub();
    expect(one.hub.settings.org('t').epoch).not.toBe(two.hub.settings.org('t').epoch);

    const unopened = createHub({ staticToken: TOKEN });
    expect(() => unopened.settings.org('t')).toThrow(expect.objectContaining({ code: 'invalid_state' }));
    await expect(unopened.settings.patchOrg('t', { a: 1 })).rejects.toBeInstanceOf(HubError);
  });

  it('refuses a settingsPath whose file name the storage cannot hold', () => {
    for (const settingsPath of ['/var/lib/hub/', '/var/lib/hub/my settings.json']) {
      expect(() => createHub({ staticToken: TOKEN, settingsPath })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    }
  });
});
