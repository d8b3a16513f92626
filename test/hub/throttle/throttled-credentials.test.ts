import { describe, expect, it, vi } from 'vitest';
import { api, asDevice, keyOf, withKey } from '../api-helpers.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';
import { captureLog, DEVICE_SECRET, ENROLL_SECRET, postToken, startTokenHub } from '../token-helpers.ts';
import { authorize, DEVICE_CODE_GRANT, poll, post, startUserHub } from '../user-helpers.ts';
import { CLIENT_ADDRESS_HEADER, connectFrom, fromAddress } from './client-address-header.ts';

// The hub sees the address a test names (client-address-header.ts); inline, as the factory may import nothing that imports the hub.
vi.mock('../../../src/http/client-address.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/http/client-address.ts')>();
  return {
    ...real,
    clientAddress: (req: import('node:http').IncomingMessage) =>
      (req.headers['x-test-client-address'] as string | undefined) ?? real.clientAddress(req),
  };
});

/** 3 free failures per address, 5 per credential id, then 1 s, 2 s, 4 s, 8 s at most. */
const throttle = { freeFailuresPerAddress: 3, freeFailuresPerCredential: 5, baseLockoutMs: 1_000, maxLockoutMs: 8_000 };
const ATTACKER = '203.0.113.66';
const OTHER = '198.51.100.7';

async function tokenFrom(port: number, address: string, body: Record<string, unknown>) {
  const response = await fetch(`http://127.0.0.1:${port}/v1/device-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [CLIENT_ADDRESS_HEADER]: address },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

const wrong = { device_id: 'device-1', tenant_id: 'tenant-1', credential: 'not-the-secret' };
const right = { device_id: 'device-1', tenant_id: 'tenant-1', credential: ENROLL_SECRET };

describe('POST /v1/device-token: failed secrets', () => {
  it('slows down 460 wrong secrets in a row: 429 with retry-after past the free ones', async () => {
    const { port } = await startTokenHub({ throttle });
    const statuses: number[] = [];
    for (let i = 0; i < 460; i++) statuses.push((await tokenFrom(port, ATTACKER, wrong)).status);
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4).every((status) => status === 429)).toBe(true);
    expect(await tokenFrom(port, ATTACKER, wrong)).toEqual({
      status: 429,
      retryAfter: '1',
      body: { error: 'too_many_attempts', message: 'too many failed attempts: retry in 1 s', retry_after_s: 1 },
    });
  });

  it('lets a right secret from another address in at once; from the locked address it waits out the window', async () => {
    const { port, clock } = await startTokenHub({ throttle });
    for (let i = 0; i < 4; i++) await tokenFrom(port, ATTACKER, wrong);
    expect((await tokenFrom(port, OTHER, right)).status).toBe(200);
    expect((await tokenFrom(port, ATTACKER, right)).status).toBe(429);
    clock.advance(999);
    expect((await tokenFrom(port, ATTACKER, right)).status).toBe(429);
    clock.advance(1);
    expect((await tokenFrom(port, ATTACKER, right)).status).toBe(200);
  });

  it('grows the window with each further failure, up to the cap', async () => {
    const { port, clock } = await startTokenHub({ throttle });
    for (let i = 0; i < 3; i++) await tokenFrom(port, ATTACKER, wrong);
    const windows: Array<string | null> = [];
    for (let i = 0; i < 5; i++) {
      expect((await tokenFrom(port, ATTACKER, wrong)).status).toBe(401);
      const refused = await tokenFrom(port, ATTACKER, wrong);
      windows.push(refused.retryAfter);
      clock.advance(Number(refused.retryAfter) * 1_000);
    }
    expect(windows).toEqual(['1', '2', '4', '8', '8']);
  });

  it('locks a device guessed at from many addresses, except where it got a token before', async () => {
    const { port } = await startTokenHub({ throttle });
    const bound = { device_id: 'device-2', tenant_id: 'tenant-1' };
    expect((await tokenFrom(port, OTHER, { ...bound, credential: DEVICE_SECRET })).status).toBe(200);
    for (let i = 0; i < 6; i++) expect((await tokenFrom(port, `192.0.2.${i}`, { ...bound, credential: 'guess' })).status).toBe(401);
    expect((await tokenFrom(port, '192.0.2.200', { ...bound, credential: DEVICE_SECRET })).status).toBe(429);
    expect((await tokenFrom(port, OTHER, { ...bound, credential: DEVICE_SECRET })).status).toBe(200);
    // Another device of the tenant is not locked.
    expect((await tokenFrom(port, '192.0.2.200', right)).status).toBe(200);
  });

  it('logs each lock-out once, without the secrets', async () => {
    const log = captureLog();
    const { port, clock } = await startTokenHub({ throttle, logger: log.logger });
    for (let i = 0; i < 40; i++) await tokenFrom(port, ATTACKER, wrong);
    clock.advance(1_000);
    for (let i = 0; i < 40; i++) await tokenFrom(port, ATTACKER, wrong);
    await tokenFrom(port, ATTACKER, right);
    const lines = log
      .output()
      .split('\n')
      .filter((line) => line.includes('failed credentials throttled'));
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        kind: 'device_secret',
        scope: 'address',
        address: ATTACKER,
        credential_id: 'tenant-1/device-1',
        failures: 4,
        retry_after_s: 1,
      }),
      expect.objectContaining({
        kind: 'device_secret',
        scope: 'address',
        address: ATTACKER,
        credential_id: 'tenant-1/device-1',
        failures: 5,
        retry_after_s: 2,
      }),
    ]);
    expect(log.output()).not.toContain('not-the-secret');
    expect(log.output()).not.toContain(ENROLL_SECRET);
  });

  it('counts requests from the real loopback address too', async () => {
    const { port } = await startTokenHub({ throttle });
    for (let i = 0; i < 4; i++) expect((await postToken(port, wrong)).status).toBe(401);
    expect((await postToken(port, right)).status).toBe(429);
  });
});

describe('connect: failed credentials', () => {
  it('static token: closes 1013 after an error frame that says when to retry; a right token from another address gets in', async () => {
    const log = captureLog();
    const { url } = await startHub({ staticToken: TOKEN, throttle, logger: log.logger });
    for (let i = 0; i < 4; i++) {
      const { reply, closed } = await connectFrom(url, ATTACKER, 'wrong-token');
      expect(reply).toMatchObject({ type: 'error', code: 'auth_failed' });
      expect((await closed).code).toBe(4001);
    }
    const refused = await connectFrom(url, ATTACKER, TOKEN);
    expect(refused.reply).toMatchObject({
      type: 'error',
      code: 'auth_failed',
      message: 'too_many_attempts: retry in 1 s',
      details: { reason: 'too_many_attempts', retry_after_s: 1 },
    });
    expect(await refused.closed).toEqual({ code: 1013, reason: 'too_many_attempts' });
    const other = await connectFrom(url, OTHER, TOKEN);
    expect(other.reply).toMatchObject({ type: 'connect_ack' });
    other.close();
    expect(log.output()).not.toContain('wrong-token');
    expect(log.output()).not.toContain(TOKEN);
  });

  it('device token: an unreadable or forged token counts; an expired one does not', async () => {
    const { url, hub, clock } = await startTokenHub({ throttle });
    for (let i = 0; i < 4; i++)
      expect((await connectFrom(url, ATTACKER, 'not-a-jwt')).reply).toMatchObject({
        type: 'error',
        code: 'auth_failed',
        message: 'malformed',
      });
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    expect((await connectFrom(url, ATTACKER, token)).reply).toMatchObject({ details: { reason: 'too_many_attempts' } });
    const other = await connectFrom(url, OTHER, token);
    expect(other.reply).toMatchObject({ type: 'connect_ack' });
    other.close();

    clock.advance(60_000);
    for (let i = 0; i < 6; i++) expect((await connectFrom(url, OTHER, token)).reply).toMatchObject({ message: 'expired' });
    const fresh = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    const again = await connectFrom(url, OTHER, fresh.token);
    expect(again.reply).toMatchObject({ type: 'connect_ack' });
    again.close();
  });
});

describe("devices' HTTP requests: failed credentials", () => {
  it('count with connect, as the same credential of the same device', async () => {
    const { port, url } = await startHub({ staticToken: TOKEN, throttle });
    for (let i = 0; i < 2; i++) await connectFrom(url, ATTACKER, 'wrong-token');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await api(port, 'GET', '/v1/settings', { ...asDevice({ token: 'wrong-token' }), ...fromAddress(ATTACKER) })).status);
    expect(statuses).toEqual([401, 401, 429]);
    const refused = await api(port, 'GET', '/v1/settings', { ...asDevice(), ...fromAddress(ATTACKER) });
    expect([refused.status, refused.headers.get('retry-after'), refused.body?.error]).toEqual([429, '1', 'too_many_attempts']);
    expect((await api(port, 'GET', '/v1/whoami', { ...asDevice({ token: 'wrong-token' }), ...fromAddress(ATTACKER) })).body).toMatchObject({
      error: 'too_many_attempts',
    });
    expect((await api(port, 'GET', '/v1/settings', { ...asDevice(), ...fromAddress(OTHER) })).status).toBe(200);
  });
});

describe('OAuth device grant', () => {
  const authorizeFrom = (port: number, address: string, clientId: string) =>
    post(port, '/v1/oauth/device_authorization', { client_id: clientId }, { headers: fromAddress(address) });

  it('device_authorization: every start counts, so a flood of starts is slowed down', async () => {
    const { port } = await startUserHub({ throttle });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await authorizeFrom(port, ATTACKER, `client-${i}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429, 429, 429, 429, 429]);
    const refused = await authorizeFrom(port, ATTACKER, 'client-x');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body).toMatchObject({ error: 'too_many_attempts' });
    expect((await authorize(port, 'laptop-1')).status).toBe(200);
  });

  it('token: polls with unknown device codes are slowed down; pending polls of a real one are not', async () => {
    const { port, clock } = await startUserHub({ throttle });
    const pollFrom = (address: string, deviceCode: string, clientId = 'laptop-1') =>
      post(
        port,
        '/v1/oauth/token',
        { grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, client_id: clientId },
        { headers: fromAddress(address) },
      );
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await pollFrom(ATTACKER, `guess-${i}`)).status);
    expect(statuses).toEqual([400, 400, 400, 400, 429, 429]);
    const { body } = await authorize(port, 'laptop-2');
    for (let i = 0; i < 6; i++) {
      clock.advance(1_000);
      expect((await poll(port, String(body.device_code), 'laptop-2')).body).toEqual({ error: 'authorization_pending' });
    }
  });
});

describe('API keys', () => {
  it('a wrong secret for a key id is slowed down per address; the key from elsewhere still works', async () => {
    const { hub, port } = await startHub({ staticToken: TOKEN, throttle });
    const key = keyOf(hub, 'tenant-1');
    const forged = `ctk_${key.id}_${'A'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await api(port, 'GET', '/v1/whoami', { ...withKey(forged), ...fromAddress(ATTACKER) })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    const refused = await api(port, 'GET', '/v1/whoami', { ...withKey(key.secret), ...fromAddress(ATTACKER) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body).toMatchObject({ error: 'too_many_attempts', retry_after_s: 1 });
    expect((await api(port, 'GET', '/v1/whoami', { ...withKey(key.secret), ...fromAddress(OTHER) })).status).toBe(200);
  });
});

describe('the admin token', () => {
  it('wrong bearers are slowed down per address; the right one from another address gets in', async () => {
    const clock = new ManualClock();
    const { port } = await startHub({ staticToken: TOKEN, adminToken: 'admin-5f1e', throttle, clock });
    const devices = (address: string, bearer: string) =>
      api(port, 'GET', '/v1/devices', { authorization: `Bearer ${bearer}`, ...fromAddress(address) });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await devices(ATTACKER, `guess-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429]);
    expect((await devices(ATTACKER, 'admin-5f1e')).status).toBe(429);
    expect((await devices(OTHER, 'admin-5f1e')).status).toBe(200);
    clock.advance(1_000);
    expect((await devices(ATTACKER, 'admin-5f1e')).status).toBe(200);
  });

  it('a missing bearer is refused but not counted', async () => {
    const { port } = await startHub({ staticToken: TOKEN, adminToken: 'admin-5f1e', throttle });
    for (let i = 0; i < 10; i++) expect((await api(port, 'GET', '/v1/devices', fromAddress(ATTACKER))).status).toBe(401);
    expect((await api(port, 'GET', '/v1/devices', { authorization: 'Bearer admin-5f1e', ...fromAddress(ATTACKER) })).status).toBe(200);
  });
});
