import { describe, expect, it } from 'vitest';
import { TestClient } from '../helpers.ts';
import { captureLog } from '../token-helpers.ts';
import { ACME, adaTokenAnswer, claimsOf, GLOBEX, login, refresh, REFRESH_LIFETIME_MS, startUserHub } from '../user-helpers.ts';

describe('refresh tokens', () => {
  it('rotate: a refresh answers new tokens, and the old refresh token is refused from then on', async () => {
    const { hub, url, port, clock } = await startUserHub();
    const first = await login(hub, port);
    clock.advance(1_000);

    const second = await refresh(port, first.refresh_token, 'device-1');
    expect(second.status).toBe(200);
    expect(second.body).toEqual({
      access_token: expect.any(String),
      ...adaTokenAnswer(clock.now()),
    });
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(claimsOf(second.body.access_token as string)).toMatchObject({ sub: 'ada', tenant: 'acme', device: 'device-1', kind: 'user' });
    const { ack } = await TestClient.connect(url, { tenant_id: 'acme', token: second.body.access_token as string });
    expect(ack.type).toBe('connect_ack');

    // Form-encoded works as well as JSON.
    const third = await refresh(port, second.body.refresh_token as string, 'device-1', {}, { form: true });
    expect(third.status).toBe(200);
  });

  it('replay: presenting a rotated refresh token revokes the whole family, the newest token included', async () => {
    const log = captureLog();
    const { hub, port } = await startUserHub({ logger: log.logger });
    const first = await login(hub, port);
    const second = (await refresh(port, first.refresh_token, 'device-1')).body;
    const third = (await refresh(port, second.refresh_token as string, 'device-1')).body;
    // Another login of the same user is another family, untouched.
    const elsewhere = await login(hub, port, { deviceId: 'device-2' });

    expect(await refresh(port, first.refresh_token, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(log.output()).toContain('a rotated refresh token was presented again');
    expect(await refresh(port, third.refresh_token as string, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(port, second.refresh_token as string, 'device-1')).toMatchObject({ body: { error: 'invalid_grant' } });
    expect((await refresh(port, elsewhere.refresh_token, 'device-2')).status).toBe(200);
  });

  it('switches organization: the new token is of that tenant, and later refreshes stay there', async () => {
    const { hub, url, port } = await startUserHub();
    const first = await login(hub, port);
    expect(claimsOf(first.access_token).tenant).toBe('acme');

    const switched = await refresh(port, first.refresh_token, 'device-1', { organization: 'globex' });
    expect(switched).toMatchObject({ status: 200, body: { organization: GLOBEX, organizations: [ACME, GLOBEX] } });
    expect(claimsOf(switched.body.access_token as string).tenant).toBe('globex');
    const { ack } = await TestClient.connect(url, { tenant_id: 'globex', token: switched.body.access_token as string });
    expect(ack.type).toBe('connect_ack');

    const stays = await refresh(port, switched.body.refresh_token as string, 'device-1');
    expect(claimsOf(stays.body.access_token as string).tenant).toBe('globex');
    const back = await refresh(port, stays.body.refresh_token as string, 'device-1', { organization: 'acme' });
    expect(back.body.organization).toEqual(ACME);
  });

  it('invalid_scope for an organization the user is not in; the refresh token still works', async () => {
    const { hub, port } = await startUserHub();
    const bob = await login(hub, port, { userId: 'bob' });

    expect(await refresh(port, bob.refresh_token, 'device-1', { organization: 'globex' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_scope' },
    });
    expect(await refresh(port, bob.refresh_token, 'device-1', { organization: 'initech' })).toMatchObject({
      body: { error: 'invalid_scope' },
    });
    expect((await refresh(port, bob.refresh_token, 'device-1')).status).toBe(200);
  });

  it('invalid_grant for an unknown token, another client_id, or past its lifetime; invalid_request for missing fields', async () => {
    const { hub, port, clock } = await startUserHub();
    const tokens = await login(hub, port);

    expect(await refresh(port, 'no-such-refresh-token', 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(port, tokens.refresh_token, 'device-2')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await refresh(port, '', 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_request' } });

    // Not spent by the refusals; a rotation renews the lifetime.
    clock.advance(REFRESH_LIFETIME_MS - 1);
    const renewed = (await refresh(port, tokens.refresh_token, 'device-1')).body.refresh_token as string;
    clock.advance(REFRESH_LIFETIME_MS - 1);
    const last = (await refresh(port, renewed, 'device-1')).body.refresh_token as string;
    clock.advance(REFRESH_LIFETIME_MS);
    expect(await refresh(port, last, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('refuses a revoked device with invalid_grant, until the revocation is lifted', async () => {
    const { hub, port } = await startUserHub();
    const tokens = await login(hub, port);

    hub.revokeDevice('device-1', { tenantId: 'acme' });
    expect(await refresh(port, tokens.refresh_token, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    hub.unrevokeDevice('device-1');
    expect((await refresh(port, tokens.refresh_token, 'device-1')).status).toBe(200);
  });

  it('fault hook: 429 with Retry-After, 500 and hang apply to the refresh grant, without spending the token', async () => {
    const log = captureLog();
    const { hub, port } = await startUserHub({ logger: log.logger });
    const tokens = await login(hub, port);

    hub.faults.tokenEndpoint({ status: 429, retryAfterS: 4 });
    const limited = await refresh(port, tokens.refresh_token, 'device-1');
    expect([limited.status, limited.body, limited.headers.get('retry-after')]).toEqual([429, { error: 'rate_limited' }, '4']);
    hub.faults.tokenEndpoint({ status: 500 });
    expect(await refresh(port, tokens.refresh_token, 'device-1')).toMatchObject({ status: 500, body: { error: 'internal' } });
    hub.faults.tokenEndpoint({ status: 401 });
    expect(await refresh(port, tokens.refresh_token, 'device-1')).toMatchObject({ status: 401, body: { error: 'invalid_client' } });

    hub.faults.tokenEndpoint('hang');
    let settled = false;
    const held = refresh(port, tokens.refresh_token, 'device-1').finally(() => (settled = true));
    await log.seen('oauth token request held');
    await new Promise(setImmediate);
    expect(settled).toBe(false);
    hub.faults.tokenEndpoint('ok');
    expect((await held).status).toBe(200);
  });
});
