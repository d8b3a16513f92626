import { describe, expect, it } from 'vitest';
import { Share, SharedView } from '../../../src/api/contract.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';
import { api, asDevice, keyOf, withKey } from '../api-helpers.ts';

const DAY_MS = 86_400_000;
const tool = (id: string) => ({ request_id: id, job_type: 'tool' as const, tool_name: 'echo', inputs: {} });

/** A hub on a manual clock with an execution `req_1` and a task `tsk_1` of tenant-1, and `req_2` of tenant-2. */
async function sharingHub(sharing?: Record<string, unknown>) {
  const clock = new ManualClock();
  const started = await startHub({ staticToken: TOKEN, clock });
  const { hub } = started;
  hub.execute('device-1', tool('req_1'), { tenantId: 'tenant-1' });
  hub.execute('device-1', tool('req_2'), { tenantId: 'tenant-2' });
  hub.openTask('tenant-1', 'tsk_1');
  if (sharing) await hub.settings.patchOrg('tenant-1', { sharing });
  return { ...started, clock, key: keyOf(hub, 'tenant-1') };
}

describe('share links', () => {
  it('creates an organization share by default, readable by the organization only, until it expires', async () => {
    const { port, clock, hub, key } = await sharingHub();
    const created = await api(port, 'POST', '/v1/shares', withKey(key.secret), {
      resource: { type: 'execution', id: 'req_1' },
      visibility: 'organization',
    });
    expect(created.status).toBe(201);
    const share = Share.parse(created.body);
    expect(share).toMatchObject({
      tenant_id: 'tenant-1',
      resource: { type: 'execution', id: 'req_1' },
      visibility: 'organization',
      created_at: clock.now(),
      expires_at: clock.now() + 7 * DAY_MS,
    });
    expect(share.url).toBe(`http://127.0.0.1:${port}/v1/shares/${share.id}`);

    const read = await api(port, 'GET', `/v1/shares/${share.id}`, asDevice({ device_id: 'device-9' }));
    expect(read.status).toBe(200);
    expect(SharedView.parse(read.body)).toEqual({ ...share, resource_status: 'queued' });
    const anonymous = await api(port, 'GET', `/v1/shares/${share.id}`);
    expect(anonymous).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    const otherTenant = await api(port, 'GET', `/v1/shares/${share.id}`, withKey(keyOf(hub, 'tenant-2').secret));
    expect(otherTenant).toMatchObject({ status: 404, body: { error: 'not_found' } });

    clock.advance(7 * DAY_MS);
    expect(await api(port, 'GET', `/v1/shares/${share.id}`, withKey(key.secret))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });

  it('refuses when the organization turned sharing off (403 sharing_disabled), or has unreadable sharing settings', async () => {
    for (const sharing of [{ enabled: false }, { enabled: 'no' }]) {
      const { port, key } = await sharingHub(sharing);
      const answer = await api(port, 'POST', '/v1/shares', withKey(key.secret), {
        resource: { type: 'execution', id: 'req_1' },
        visibility: 'organization',
      });
      expect(answer, JSON.stringify(sharing)).toMatchObject({ status: 403, body: { error: 'sharing_disabled' } });
    }
  });

  it('refuses public shares unless the organization allows them, then anyone may read them', async () => {
    const refused = await sharingHub();
    const body = { resource: { type: 'task', id: 'tsk_1' }, visibility: 'public' };
    expect(await api(refused.port, 'POST', '/v1/shares', withKey(refused.key.secret), body)).toMatchObject({
      status: 403,
      body: { error: 'public_sharing_disabled' },
    });

    const { port, key, hub, clock } = await sharingHub({ allow_public: true, max_expiry_s: 3_600 });
    const created = await api(port, 'POST', '/v1/shares', withKey(key.secret), body);
    expect(created.status).toBe(201);
    const share = Share.parse(created.body);
    // Without expires_in_s: 7 days, or the organization's maximum when shorter.
    expect(share.expires_at).toBe(clock.now() + 3_600_000);
    const read = await api(port, 'GET', `/v1/shares/${share.id}`);
    expect(read.status).toBe(200);
    expect(SharedView.parse(read.body)).toEqual({ ...share, resource_status: 'open' });
    hub.closeTask('tenant-1', 'tsk_1');
    expect((await api(port, 'GET', `/v1/shares/${share.id}`)).body).toMatchObject({ resource_status: 'closed' });
    clock.advance(3_600_000);
    expect((await api(port, 'GET', `/v1/shares/${share.id}`)).status).toBe(404);
  });

  it('refuses an expiry past the organization maximum (400 expiry_too_long)', async () => {
    const { port, key } = await sharingHub({ max_expiry_s: 600 });
    const resource = { type: 'execution', id: 'req_1' };
    const tooLong = await api(port, 'POST', '/v1/shares', withKey(key.secret), { resource, visibility: 'organization', expires_in_s: 601 });
    expect(tooLong).toMatchObject({ status: 400, body: { error: 'expiry_too_long' } });
    expect(
      (await api(port, 'POST', '/v1/shares', withKey(key.secret), { resource, visibility: 'organization', expires_in_s: 600 })).status,
    ).toBe(201);
  });

  it("answers 404 for another tenant's execution or task, or none", async () => {
    const { port, hub, key } = await sharingHub();
    hub.openTask('tenant-2', 'tsk_2');
    for (const resource of [
      { type: 'execution', id: 'req_2' },
      { type: 'execution', id: 'req_none' },
      { type: 'task', id: 'tsk_2' },
      { type: 'task', id: 'tsk_none' },
    ]) {
      const answer = await api(port, 'POST', '/v1/shares', withKey(key.secret), { resource, visibility: 'organization' });
      expect(answer, JSON.stringify(resource)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    }
  });

  it('needs shares:write and a valid body', async () => {
    const { port, hub } = await sharingHub();
    const reader = keyOf(hub, 'tenant-1', ['usage:read']);
    const body = { resource: { type: 'execution', id: 'req_1' }, visibility: 'organization' };
    expect((await api(port, 'POST', '/v1/shares', withKey(reader.secret), body)).status).toBe(403);
    const writer = keyOf(hub, 'tenant-1', ['shares:write']);
    expect((await api(port, 'POST', '/v1/shares', withKey(writer.secret), { ...body, visibility: 'everyone' })).status).toBe(400);
    expect((await api(port, 'POST', '/v1/shares', asDevice(), body)).status).toBe(201);
  });
});
