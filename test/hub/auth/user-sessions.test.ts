import { describe, expect, it } from 'vitest';
import { envelope, nextEvent, TestClient } from '../helpers.ts';
import { captureLog, connectWith, LEEWAY_MS, LIFETIME_MS } from '../token-helpers.ts';
import { ACME, authorize, claimsOf, GLOBEX, login, poll, post, refresh, revoke, startUserHub, type UserTokens } from '../user-helpers.ts';

const adaOn = (deviceId: string, tokens: UserTokens) => ({
  device_id: deviceId,
  tenant_id: tokens.organization.id,
  token: tokens.access_token,
});

async function me(port: number, authorization?: string) {
  const response = await fetch(`http://127.0.0.1:${port}/v1/me`, { headers: authorization === undefined ? {} : { authorization } });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

describe('user tokens on connect', () => {
  it('opens a session with the matching tenant and device, and refreshes in band with a refreshed token', async () => {
    const { hub, url, port, clock } = await startUserHub();
    const tokens = await login(hub, port);
    const opened = nextEvent(hub, 'session_open');
    const { client } = await TestClient.connect(url, adaOn('device-1', tokens));
    expect((await opened)[0]).toMatchObject({ device_id: 'device-1', tenant_id: 'acme' });

    clock.advance(1_000);
    const next = (await refresh(port, tokens.refresh_token, 'device-1')).body as unknown as UserTokens;
    client.send(envelope('auth_refresh', { token: next.access_token }));
    expect(await client.next()).toMatchObject({ type: 'auth_refresh_ack', expires_at: next.expires_at });
    // The session now lives on the refreshed token, and ends with it.
    clock.advance(next.expires_at + LEEWAY_MS - clock.now());
    expect(await client.closed).toEqual({ code: 4002, reason: 'token_expired' });
  });

  it("refuses (4001) another device's id or another tenant, and an expired user token with 4002", async () => {
    const { hub, url, port, clock } = await startUserHub();
    const tokens = await login(hub, port);

    const otherDevice = await connectWith(url, tokens.access_token, { device_id: 'device-2', tenant_id: 'acme' });
    expect(otherDevice.reply).toMatchObject({ type: 'error', code: 'auth_failed', message: 'wrong_device' });
    expect(otherDevice.closed).toEqual({ code: 4001, reason: 'auth_failed' });
    const otherTenant = await connectWith(url, tokens.access_token, { device_id: 'device-1', tenant_id: 'globex' });
    expect(otherTenant.reply).toMatchObject({ code: 'auth_failed', message: 'wrong_tenant' });
    expect(otherTenant.closed.code).toBe(4001);
    // A user id is not a device id: the user token does not pass for a device named after the user.
    const asUser = await connectWith(url, tokens.access_token, { device_id: 'ada', tenant_id: 'acme' });
    expect(asUser.closed.code).toBe(4001);
    expect(hub.devices()).toEqual([]);

    clock.advance(LIFETIME_MS + LEEWAY_MS);
    const expired = await connectWith(url, tokens.access_token, { device_id: 'device-1', tenant_id: 'acme' });
    expect(expired.reply).toMatchObject({ code: 'auth_failed', message: 'expired' });
    expect(expired.closed.code).toBe(4002);
  });

  it('a revoked device is refused with its user token too (4007)', async () => {
    const { hub, url, port } = await startUserHub();
    const tokens = await login(hub, port);
    hub.revokeDevice('device-1');
    const { reply, closed } = await connectWith(url, tokens.access_token, { device_id: 'device-1', tenant_id: 'acme' });
    expect(reply).toMatchObject({ message: 'revoked' });
    expect(closed.code).toBe(4007);
  });
});

describe('logout: POST /v1/oauth/revoke (RFC 7009)', () => {
  it("revoking a refresh token closes that login's sessions with 4007 and ends the family", async () => {
    const { hub, url, port } = await startUserHub();
    const first = await login(hub, port);
    const second = (await refresh(port, first.refresh_token, 'device-1')).body as unknown as UserTokens;
    const { client } = await TestClient.connect(url, adaOn('device-1', second));
    // The same user on another device, and another user: both untouched.
    const other = await login(hub, port, { deviceId: 'device-2' });
    const { client: onDevice2 } = await TestClient.connect(url, adaOn('device-2', other));
    const bob = await login(hub, port, { deviceId: 'device-3', userId: 'bob' });
    const { client: bobs } = await TestClient.connect(url, adaOn('device-3', bob));

    const answer = await revoke(port, { token: second.refresh_token, token_type_hint: 'refresh_token' }, { form: true });
    expect([answer.status, answer.body, answer.headers.get('cache-control')]).toEqual([200, {}, 'no-store']);
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });

    expect(await refresh(port, second.refresh_token, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const again = await connectWith(url, second.access_token, { device_id: 'device-1', tenant_id: 'acme' });
    expect([again.reply.message, again.closed.code]).toEqual(['revoked', 4007]);
    expect((await me(port, `Bearer ${second.access_token}`)).status).toBe(401);
    for (const bystander of [onDevice2, bobs]) {
      const seq = bystander.heartbeat();
      expect(await bystander.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    }
    expect((await refresh(port, other.refresh_token, 'device-2')).status).toBe(200);
  });

  it('a replayed refresh token closes the sessions of its family with 4007', async () => {
    const { hub, url, port } = await startUserHub();
    const first = await login(hub, port);
    const second = (await refresh(port, first.refresh_token, 'device-1')).body as unknown as UserTokens;
    const { client } = await TestClient.connect(url, adaOn('device-1', second));

    expect((await refresh(port, first.refresh_token, 'device-1')).body.error).toBe('invalid_grant');
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
  });

  it('revoking an access token closes the session on it only; the refresh token goes on', async () => {
    const { hub, url, port } = await startUserHub();
    const tokens = await login(hub, port);
    const { client } = await TestClient.connect(url, adaOn('device-1', tokens));

    expect(await revoke(port, { token: tokens.access_token, token_type_hint: 'access_token' })).toMatchObject({ status: 200, body: {} });
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
    expect((await refresh(port, tokens.refresh_token, 'device-1')).status).toBe(200);
  });

  it('answers 200 {} for an unknown token, ignores another client_id, and 400 without a token', async () => {
    const { hub, port } = await startUserHub();
    const tokens = await login(hub, port);

    expect(await revoke(port, { token: 'never-issued' })).toMatchObject({ status: 200, body: {} });
    expect(await revoke(port, { token: tokens.refresh_token, client_id: 'device-9' })).toMatchObject({ status: 200, body: {} });
    expect((await refresh(port, tokens.refresh_token, 'device-1')).status).toBe(200);
    expect(await revoke(port, {})).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });
});

describe('GET /v1/me', () => {
  it('answers who the user access token speaks for, in its organization', async () => {
    const { hub, port } = await startUserHub();
    const tokens = await login(hub, port, { organization: 'globex' });

    const answer = await me(port, `Bearer ${tokens.access_token}`);
    expect(answer).toMatchObject({ status: 200, body: { user_id: 'ada', organization: GLOBEX, organizations: [ACME, GLOBEX] } });
    expect(Object.keys(answer.body).sort()).toEqual(['organization', 'organizations', 'user_id']);
  });

  it('answers 401 invalid_token for a missing, garbage, device, expired or tampered token', async () => {
    const { hub, port, clock } = await startUserHub();
    const tokens = await login(hub, port);
    const device = await hub.issueToken({ device_id: 'device-1', tenant_id: 'acme' });
    const [header, payload, signature] = tokens.access_token.split('.') as [string, string, string];
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claimsOf(tokens.access_token), sub: 'bob' })).toString('base64url')}.${signature}`;
    expect(payload).not.toBe(tampered.split('.')[1]);

    for (const authorization of [
      undefined,
      'Bearer',
      'Bearer garbage',
      `Basic ${tokens.access_token}`,
      `Bearer ${device.token}`,
      `Bearer ${tampered}`,
    ]) {
      const answer = await me(port, authorization);
      expect([answer.status, answer.body, answer.headers.get('www-authenticate')]).toEqual([
        401,
        { error: 'invalid_token' },
        'Bearer error="invalid_token"',
      ]);
    }
    clock.advance(LIFETIME_MS + LEEWAY_MS);
    expect((await me(port, `Bearer ${tokens.access_token}`)).status).toBe(401);
  });
});

describe('user login logging', () => {
  it('never writes a device code, user code, refresh token or access token', async () => {
    const log = captureLog();
    const { hub, url, port, clock } = await startUserHub({ logger: log.logger });
    const started = (await authorize(port, 'device-1')).body as Record<string, string>;
    await poll(port, started.device_code!, 'device-1');
    await post(port, '/v1/oauth/approve', { user_code: started.user_code, user_id: 'ada' }, { headers: { authorization: 'Bearer nope' } });
    await hub.approveDeviceLogin(started.user_code!, { userId: 'ada' });
    clock.advance(1_000);
    const first = (await poll(port, started.device_code!, 'device-1')).body as unknown as UserTokens;
    await poll(port, started.device_code!, 'device-1');
    const denied = (await authorize(port, 'device-2')).body as Record<string, string>;
    await hub.denyDeviceLogin(denied.user_code!);
    await poll(port, denied.device_code!, 'device-2');
    const second = (await refresh(port, first.refresh_token, 'device-1')).body as unknown as UserTokens;
    await TestClient.connect(url, adaOn('device-1', second));
    await connectWith(url, second.access_token, { device_id: 'device-2', tenant_id: 'acme' });
    await me(port, `Bearer ${second.access_token}`);
    await refresh(port, first.refresh_token, 'device-1'); // replay
    await revoke(port, { token: second.refresh_token });
    await revoke(port, { token: second.access_token });
    await hub.close();

    const output = log.output();
    for (const line of [
      'device login started',
      'device login approved',
      'device login denied',
      'user token issued',
      'user token refused',
      'user login revoked',
    ]) {
      expect(output).toContain(line);
    }
    const secrets = [
      started.device_code,
      started.user_code,
      denied.device_code,
      denied.user_code,
      first.refresh_token,
      second.refresh_token,
    ];
    for (const secret of secrets) expect(output).not.toContain(secret);
    // Nor the user code without its dash.
    expect(output).not.toContain(started.user_code!.replace('-', ''));
    for (const token of [first.access_token, second.access_token]) {
      for (const part of token.split('.').slice(1)) expect(output).not.toContain(part);
    }
  });
});
