import { describe, expect, it } from 'vitest';
import { ApiErrorBody, WhoAmI } from '../../../src/api/contract.ts';
import { TOKEN, startHub } from '../helpers.ts';
import { ACME, GLOBEX, login, startUserHub } from '../user-helpers.ts';
import { api, asDevice, keyOf, withKey } from '../api-helpers.ts';

const ALL_BUT_MANAGE = ['usage:read', 'shares:write', 'telemetry:write', 'settings:read'];

describe('REST API credentials: who am I', () => {
  it('knows a static credential, a device token, an API key, and a user token with its organizations and role', async () => {
    const { hub, port } = await startUserHub({ staticToken: TOKEN });

    const asStatic = await api(port, 'GET', '/v1/whoami', asDevice());
    expect(asStatic.status).toBe(200);
    expect(WhoAmI.parse(asStatic.body)).toEqual({
      kind: 'static',
      tenant_id: 'tenant-1',
      device_id: 'device-1',
      permissions: ALL_BUT_MANAGE,
    });

    const { token } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
    const asDeviceToken = await api(port, 'GET', '/v1/whoami', asDevice({ device_id: 'laptop-1', tenant_id: 'acme', token }));
    expect(WhoAmI.parse(asDeviceToken.body)).toEqual({
      kind: 'device',
      tenant_id: 'acme',
      device_id: 'laptop-1',
      permissions: ALL_BUT_MANAGE,
    });

    const key = keyOf(hub, 'acme', ['telemetry:write', 'usage:read']);
    const asKey = await api(port, 'GET', '/v1/whoami', withKey(key.secret));
    // A key's permissions are its own, in the contract's order.
    expect(WhoAmI.parse(asKey.body)).toEqual({
      kind: 'api_key',
      tenant_id: 'acme',
      api_key_id: key.id,
      permissions: ['usage:read', 'telemetry:write'],
    });

    const ada = await login(hub, port, { deviceId: 'laptop-2' });
    const asAda = await api(port, 'GET', '/v1/whoami', asDevice({ device_id: 'laptop-2', tenant_id: 'acme', token: ada.access_token }));
    expect(WhoAmI.parse(asAda.body)).toEqual({
      kind: 'user',
      tenant_id: 'acme',
      device_id: 'laptop-2',
      user_id: 'ada',
      permissions: ['usage:read', 'shares:write', 'api_keys:manage', 'telemetry:write', 'settings:read'],
      organizations: [ACME, GLOBEX],
    });

    // ada is a member (not an owner) in globex: everything but managing keys.
    const inGlobex = await login(hub, port, { deviceId: 'laptop-3', organization: 'globex' });
    const asMember = await api(
      port,
      'GET',
      '/v1/whoami',
      asDevice({ device_id: 'laptop-3', tenant_id: 'globex', token: inGlobex.access_token }),
    );
    expect(WhoAmI.parse(asMember.body)).toMatchObject({ kind: 'user', tenant_id: 'globex', permissions: ALL_BUT_MANAGE });
  });

  it('answers 401 with www-authenticate for a missing, wrong, expired or revoked credential', async () => {
    const { hub, port, clock } = await startUserHub({ staticToken: TOKEN });
    const { token, jti } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
    const key = keyOf(hub, 'acme');
    const refused = [
      {},
      { authorization: `Bearer ${TOKEN}` }, // no device headers
      asDevice({ token: 'not-the-token' }),
      asDevice({ device_id: 'laptop-9', tenant_id: 'acme', token }), // another device's token
      withKey(`${key.secret}x`),
      withKey(`ctk_${key.id}_${'A'.repeat(43)}`), // the right id, a wrong secret
      withKey('ctk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    ];
    for (const headers of refused) {
      const answer = await api(port, 'GET', '/v1/whoami', headers);
      expect(answer.status, JSON.stringify(headers)).toBe(401);
      expect(ApiErrorBody.parse(answer.body)).toEqual({ error: 'unauthorized' });
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    }

    hub.revokeToken(jti);
    expect((await api(port, 'GET', '/v1/whoami', asDevice({ device_id: 'laptop-1', tenant_id: 'acme', token }))).status).toBe(401);
    const fresh = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
    clock.advance(10_000); // past the 2 s lifetime and the 1 s leeway
    expect((await api(port, 'GET', '/v1/whoami', asDevice({ device_id: 'laptop-1', tenant_id: 'acme', token: fresh.token }))).status).toBe(
      401,
    );
  });

  it('refuses an expired API key', async () => {
    const { hub, port, clock } = await startUserHub({ staticToken: TOKEN });
    const { secret } = hub.api.createApiKey('acme', { name: 'short', permissions: ['usage:read'], expires_in_s: 60 });
    expect((await api(port, 'GET', '/v1/whoami', withKey(secret))).status).toBe(200);
    clock.advance(60_000);
    expect((await api(port, 'GET', '/v1/whoami', withKey(secret))).status).toBe(401);
  });

  it('answers 403 forbidden when the credential lacks the permission', async () => {
    const { hub, port } = await startUserHub({ staticToken: TOKEN });
    const bob = await login(hub, port, { deviceId: 'laptop-2', userId: 'bob' }); // a member of acme
    const { token } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
    const usageOnly = keyOf(hub, 'acme', ['telemetry:write']);
    const forbidden: Array<[string, string, Record<string, string>]> = [
      ['GET', '/v1/api-keys', asDevice({ device_id: 'laptop-2', tenant_id: 'acme', token: bob.access_token })],
      ['GET', '/v1/api-keys', asDevice({ device_id: 'laptop-1', tenant_id: 'acme', token })],
      ['GET', '/v1/api-keys', asDevice()],
      ['GET', '/v1/usage', withKey(usageOnly.secret)],
    ];
    for (const [method, path, headers] of forbidden) {
      const answer = await api(port, method, path, headers);
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(ApiErrorBody.parse(answer.body)).toEqual({ error: 'forbidden', message: expect.stringContaining('permission') });
    }
  });

  it('answers 405 for a method a route does not take, with allow', async () => {
    const { hub, port } = await startHub();
    const { secret } = keyOf(hub, 'tenant-1');
    const answer = await api(port, 'PUT', '/v1/api-keys', withKey(secret), {});
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('GET, POST');
  });
});
