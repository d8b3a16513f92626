import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiKeyList, ApiKeyWithSecret, UsageAnswer } from '../../../src/api/contract.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { envelope, startHub, TestClient, TOKEN } from '../helpers.ts';
import { login, startUserHub } from '../user-helpers.ts';
import { api, asDevice, keyOf, withKey } from '../api-helpers.ts';
import { MAX_DEAD_KEYS_PER_TENANT } from '../../../src/hub/api/api-keys.ts';

const SECRET_SHAPE = /^ctk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

describe('API keys', () => {
  it('shows the secret once, lists keys without it, and holds only its SHA-256', async () => {
    const { hub, port, clock } = await startUserHub();
    const ada = await login(hub, port, { deviceId: 'laptop-1' }); // owner of acme
    const owner = asDevice({ device_id: 'laptop-1', tenant_id: 'acme', token: ada.access_token });

    const created = await api(port, 'POST', '/v1/api-keys', owner, {
      name: 'ci',
      permissions: ['usage:read', 'telemetry:write'],
      expires_in_s: 3600,
    });
    expect(created.status).toBe(201);
    const key = ApiKeyWithSecret.parse(created.body);
    expect(key).toMatchObject({
      name: 'ci',
      tenant_id: 'acme',
      permissions: ['usage:read', 'telemetry:write'],
      created_at: clock.now(),
      expires_at: clock.now() + 3_600_000,
      revoked_at: null,
      last_used_at: null,
      use_count: 0,
    });
    const [, id, secretPart] = SECRET_SHAPE.exec(key.secret) ?? [];
    expect(id).toBe(key.id);
    expect(secretPart).toBeDefined();

    clock.advance(500);
    expect((await api(port, 'GET', '/v1/whoami', withKey(key.secret))).status).toBe(200);
    const listed = await api(port, 'GET', '/v1/api-keys', owner);
    expect(listed.status).toBe(200);
    const { keys } = ApiKeyList.parse(listed.body);
    const { secret: _shownOnce, ...info } = key;
    expect(keys).toEqual([{ ...info, last_used_at: clock.now(), use_count: 1 }]);
    expect(JSON.stringify(listed.body)).not.toContain(secretPart);
    expect(listed.body?.keys).toEqual([expect.not.objectContaining({ secret: expect.anything() })]);

    const stored = hub.api.keys.stored();
    expect(JSON.stringify(stored)).not.toContain(secretPart!);
    expect(stored).toEqual([expect.objectContaining({ id: key.id, secret_hash: createHash('sha256').update(secretPart!).digest('hex') })]);
  });

  it('refuses a revoked key at once', async () => {
    const { hub, port } = await startHub();
    const manager = keyOf(hub, 'tenant-1');
    const victim = keyOf(hub, 'tenant-1', ['usage:read']);
    expect((await api(port, 'GET', '/v1/usage', withKey(victim.secret))).status).toBe(200);

    const revoked = await api(port, 'DELETE', `/v1/api-keys/${victim.id}`, withKey(manager.secret));
    expect(revoked).toMatchObject({ status: 204, body: undefined });
    expect((await api(port, 'GET', '/v1/usage', withKey(victim.secret))).status).toBe(401);
    const { keys } = ApiKeyList.parse((await api(port, 'GET', '/v1/api-keys', withKey(manager.secret))).body);
    expect(keys.find((k) => k.id === victim.id)?.revoked_at).toEqual(expect.any(Number));
    // Revoking again is harmless; rotating a revoked key is a conflict.
    expect((await api(port, 'DELETE', `/v1/api-keys/${victim.id}`, withKey(manager.secret))).status).toBe(204);
    expect(await api(port, 'POST', `/v1/api-keys/${victim.id}/rotate`, withKey(manager.secret))).toMatchObject({
      status: 409,
      body: { error: 'key_revoked' },
    });
  });

  it("refuses a rotated key's old secret at once and takes the new one", async () => {
    const { hub, port } = await startHub();
    const manager = keyOf(hub, 'tenant-1');
    const rotating = keyOf(hub, 'tenant-1', ['usage:read']);
    const rotated = await api(port, 'POST', `/v1/api-keys/${rotating.id}/rotate`, withKey(manager.secret));
    expect(rotated.status).toBe(200);
    const fresh = ApiKeyWithSecret.parse(rotated.body);
    expect(fresh).toMatchObject({ id: rotating.id, permissions: ['usage:read'], revoked_at: null });
    expect(fresh.secret).not.toBe(rotating.secret);
    expect((await api(port, 'GET', '/v1/usage', withKey(rotating.secret))).status).toBe(401);
    expect((await api(port, 'GET', '/v1/usage', withKey(fresh.secret))).status).toBe(200);

    // A key may rotate itself: its own old secret stops working too.
    const self = await api(port, 'POST', `/v1/api-keys/${manager.id}/rotate`, withKey(manager.secret));
    expect(self.status).toBe(200);
    expect((await api(port, 'GET', '/v1/api-keys', withKey(manager.secret))).status).toBe(401);
    expect((await api(port, 'GET', '/v1/api-keys', withKey(ApiKeyWithSecret.parse(self.body).secret))).status).toBe(200);
  });

  it("keeps tenants apart: another tenant's key cannot list, revoke or rotate this tenant's keys, nor read its usage", async () => {
    const { hub, port, url } = await startHub();
    const { client } = await TestClient.connect(url);
    client.send(
      envelope('usage_report', {
        seq: 1,
        report_id: 'usage:r1',
        request_id: 'r1',
        executor_device_id: 'device-1',
        metrics: { duration_ms: 7, token_usage: { input: 10, output: 20 }, cost_estimate: 0.5 },
      }),
    );
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
    const mine = keyOf(hub, 'tenant-1');
    const theirs = keyOf(hub, 'tenant-2');

    const own = await api(port, 'GET', '/v1/usage', withKey(mine.secret));
    expect(UsageAnswer.parse(own.body)).toEqual({
      tenant_id: 'tenant-1',
      totals: { reports: 1, duration_ms: 7, input_tokens: 10, output_tokens: 20, cost_estimate: 0.5 },
      entries: [expect.objectContaining({ report_id: 'usage:r1', device_id: 'device-1' })],
    });
    // The device itself reads its tenant's usage with its own credential.
    expect(UsageAnswer.parse((await api(port, 'GET', '/v1/usage?tenant=tenant-1', asDevice())).body).totals.reports).toBe(1);

    const listed = ApiKeyList.parse((await api(port, 'GET', '/v1/api-keys', withKey(theirs.secret))).body);
    expect(listed.keys.map((k) => k.id)).toEqual([theirs.id]);
    expect(await api(port, 'DELETE', `/v1/api-keys/${mine.id}`, withKey(theirs.secret))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect(await api(port, 'POST', `/v1/api-keys/${mine.id}/rotate`, withKey(theirs.secret))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect(await api(port, 'DELETE', '/v1/api-keys/0123456789abcdef', withKey(theirs.secret))).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    expect((await api(port, 'GET', '/v1/usage', withKey(mine.secret))).status).toBe(200); // untouched

    expect(await api(port, 'GET', '/v1/usage?tenant=tenant-1', withKey(theirs.secret))).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    const theirUsage = UsageAnswer.parse((await api(port, 'GET', '/v1/usage', withKey(theirs.secret))).body);
    expect(theirUsage).toMatchObject({ tenant_id: 'tenant-2', totals: { reports: 0 }, entries: [] });
  });

  it('keeps the operators’ usage route behind the admin token', async () => {
    const { hub, port } = await startHub({ staticToken: TOKEN, adminToken: 'admin-secret' });
    const key = keyOf(hub, 'tenant-2');
    const asAdmin = await api(port, 'GET', '/v1/usage?tenant=tenant-1', { authorization: 'Bearer admin-secret' });
    expect(asAdmin).toMatchObject({ status: 200, body: { tenant_id: 'tenant-1', reports: [] } });
    expect((await api(port, 'GET', '/v1/usage?tenant=tenant-1')).status).toBe(401);
    expect((await api(port, 'GET', '/v1/usage?tenant=tenant-1', withKey(key.secret))).status).toBe(403);
  });

  it('creates keys with no more permissions than the creator has, and checks the body', async () => {
    const { hub, port } = await startHub();
    const limited = keyOf(hub, 'tenant-1', ['api_keys:manage', 'usage:read']);
    const narrower = await api(port, 'POST', '/v1/api-keys', withKey(limited.secret), { name: 'reader', permissions: ['usage:read'] });
    expect(narrower.status).toBe(201);
    expect(ApiKeyWithSecret.parse(narrower.body).tenant_id).toBe('tenant-1');
    const wider = await api(port, 'POST', '/v1/api-keys', withKey(limited.secret), {
      name: 'writer',
      permissions: ['usage:read', 'telemetry:write'],
    });
    expect(wider).toMatchObject({ status: 403, body: { error: 'forbidden', message: expect.stringContaining('telemetry:write') } });

    for (const body of [
      { name: 'x', permissions: [] },
      { name: 'x', permissions: ['root'] },
      { permissions: ['usage:read'] },
      'not json',
    ]) {
      const answer = await api(port, 'POST', '/v1/api-keys', withKey(limited.secret), body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
    }
  });

  it('rotates or revokes only keys that do no more than the caller may: a manager key cannot take over a wider one', async () => {
    const { hub, port } = await startHub();
    const manager = keyOf(hub, 'tenant-1', ['api_keys:manage']);
    const wide = keyOf(hub, 'tenant-1', ['usage:read', 'shares:write']);
    const narrow = keyOf(hub, 'tenant-1', ['api_keys:manage']);
    expect(await api(port, 'POST', `/v1/api-keys/${wide.id}/rotate`, withKey(manager.secret))).toMatchObject({
      status: 403,
      body: { error: 'forbidden', message: expect.stringContaining('usage:read') },
    });
    expect((await api(port, 'DELETE', `/v1/api-keys/${wide.id}`, withKey(manager.secret))).status).toBe(403);
    // The wide key still works with its own secret.
    expect((await api(port, 'GET', '/v1/usage', withKey(wide.secret))).status).toBe(200);
    expect((await api(port, 'POST', `/v1/api-keys/${narrow.id}/rotate`, withKey(manager.secret))).status).toBe(200);
    expect((await api(port, 'DELETE', `/v1/api-keys/${narrow.id}`, withKey(manager.secret))).status).toBe(204);
  });

  it('forgets the oldest revoked keys past its bound, so a create-and-revoke loop cannot grow the hub', async () => {
    const { hub } = await startHub();
    for (let i = 0; i < MAX_DEAD_KEYS_PER_TENANT + 50; i++) hub.api.revokeApiKey('tenant-1', keyOf(hub, 'tenant-1', ['usage:read']).id);
    const live = keyOf(hub, 'tenant-1', ['usage:read']);
    const listed = hub.api.apiKeys('tenant-1');
    expect(listed.filter((k) => k.revoked_at !== null)).toHaveLength(MAX_DEAD_KEYS_PER_TENANT);
    expect(listed.some((k) => k.id === live.id)).toBe(true);
    expect(hub.api.keys.stored().length).toBeLessThanOrEqual(MAX_DEAD_KEYS_PER_TENANT + 1);
  });

  it('logs key ids, never secrets', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (line: string) => lines.push(line) } });
    const { hub, port } = await startHub({ staticToken: TOKEN, logger });
    const manager = keyOf(hub, 'tenant-1');
    const created = ApiKeyWithSecret.parse(
      (await api(port, 'POST', '/v1/api-keys', withKey(manager.secret), { name: 'ci', permissions: ['usage:read'] })).body,
    );
    const rotated = ApiKeyWithSecret.parse((await api(port, 'POST', `/v1/api-keys/${created.id}/rotate`, withKey(manager.secret))).body);
    expect((await api(port, 'GET', '/v1/usage', withKey(created.secret))).status).toBe(401);
    expect((await api(port, 'DELETE', `/v1/api-keys/${created.id}`, withKey(manager.secret))).status).toBe(204);
    expect((await api(port, 'GET', '/v1/usage', withKey(rotated.secret))).status).toBe(401);
    await hub.close();

    const output = lines.join('');
    for (const message of ['api key created', 'api key rotated', 'api key revoked', 'api request refused'])
      expect(output).toContain(message);
    expect(output).toContain(created.id);
    for (const secret of [manager.secret, created.secret, rotated.secret]) expect(output).not.toContain(secret.slice(21));
  });
});
