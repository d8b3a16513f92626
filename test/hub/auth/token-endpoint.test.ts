import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { startHub, TestClient, TOKEN } from '../helpers.ts';
import { captureLog, DEVICE_SECRET, ENROLL_SECRET, LIFETIME_MS, postToken, startTokenHub } from '../token-helpers.ts';

const request = (overrides: Record<string, unknown> = {}) => ({
  device_id: 'device-1',
  tenant_id: 'tenant-1',
  credential: ENROLL_SECRET,
  ...overrides,
});

describe('hub token endpoint', () => {
  it('trades a credential for a Bearer token the hub accepts on connect', async () => {
    const { url, port, clock } = await startTokenHub();
    const answer = await postToken(port, request());

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: LIFETIME_MS / 1000,
      expires_at: clock.now() + LIFETIME_MS,
    });
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const { ack } = await TestClient.connect(url, { token: answer.body.access_token as string });
    expect(ack.type).toBe('connect_ack');
  });

  it('accepts an enrollment secret for any device of its tenant, and a device secret for its device only', async () => {
    const { port } = await startTokenHub();

    expect((await postToken(port, request({ device_id: 'any-device' }))).status).toBe(200);
    expect((await postToken(port, request({ device_id: 'device-2', credential: DEVICE_SECRET }))).status).toBe(200);
    expect(await postToken(port, request({ device_id: 'device-3', credential: DEVICE_SECRET }))).toMatchObject({
      status: 401,
      body: { error: 'invalid_credentials' },
    });
    expect(await postToken(port, request({ tenant_id: 'tenant-2' }))).toMatchObject({
      status: 401,
      body: { error: 'invalid_credentials' },
    });
    expect(await postToken(port, request({ credential: `${ENROLL_SECRET}x` }))).toMatchObject({
      status: 401,
      body: { error: 'invalid_credentials' },
    });
  });

  it('answers 400 invalid_request to a malformed body and 405 to a GET', async () => {
    const { port } = await startTokenHub();
    const invalid = { status: 400, body: { error: 'invalid_request' } };

    expect(await postToken(port, '{"device_id":')).toMatchObject(invalid);
    expect(await postToken(port, { device_id: 'device-1', tenant_id: 'tenant-1' })).toMatchObject(invalid);
    expect(await postToken(port, request({ credential: 42 }))).toMatchObject(invalid);
    expect(await postToken(port, request({ device_id: '' }))).toMatchObject(invalid);
    expect(await postToken(port, request({ pad: 'x'.repeat(20_000) }))).toMatchObject(invalid);
    const get = await fetch(`http://127.0.0.1:${port}/v1/device-token`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
  });

  it('answers 401 revoked to a revoked device with a valid credential, until unrevoked', async () => {
    const { hub, port } = await startTokenHub();
    hub.revokeDevice('device-1');

    expect(await postToken(port, request())).toMatchObject({ status: 401, body: { error: 'revoked' } });
    // A wrong credential learns nothing about the revocation.
    expect(await postToken(port, request({ credential: 'guess' }))).toMatchObject({ body: { error: 'invalid_credentials' } });
    hub.unrevokeDevice('device-1');
    expect((await postToken(port, request())).status).toBe(200);
  });

  it('fault: answers a fixed status, with Retry-After on 429 and 503 when asked', async () => {
    const { hub, port } = await startTokenHub();

    hub.faults.tokenEndpoint({ status: 429, retryAfterS: 7 });
    const limited = await postToken(port, request());
    expect([limited.status, limited.body, limited.headers.get('retry-after')]).toEqual([429, { error: 'rate_limited' }, '7']);

    hub.faults.tokenEndpoint({ status: 503 });
    const unavailable = await postToken(port, request());
    expect([unavailable.status, unavailable.headers.get('retry-after')]).toEqual([503, null]);

    hub.faults.tokenEndpoint({ status: 500, retryAfterS: 3 });
    const failed = await postToken(port, request());
    expect([failed.status, failed.body, failed.headers.get('retry-after')]).toEqual([500, { error: 'internal' }, null]);

    // Even a valid credential gets the 401 while the fault holds.
    hub.faults.tokenEndpoint({ status: 401 });
    expect(await postToken(port, request())).toMatchObject({ status: 401, body: { error: 'invalid_credentials' } });

    hub.faults.tokenEndpoint('ok');
    expect((await postToken(port, request())).status).toBe(200);
  });

  it("fault 'hang': answers nothing until the behaviour changes, then by the new one", async () => {
    const log = captureLog();
    const { hub, port } = await startTokenHub({ logger: log.logger });
    hub.faults.tokenEndpoint('hang');
    let settled = false;
    const pending = postToken(port, request()).finally(() => (settled = true));

    await log.seen('device token request held');
    // A second request behind it is held too, and goes out with it.
    const second = postToken(port, request({ device_id: 'device-9' }));
    await new Promise(setImmediate);
    expect(settled).toBe(false);
    hub.faults.tokenEndpoint({ status: 503, retryAfterS: 1 });

    expect((await pending).status).toBe(503);
    expect((await second).status).toBe(503);
  });

  it("fault 'hang' does not keep close() from finishing", async () => {
    const log = captureLog();
    const { hub, port } = await startTokenHub({ logger: log.logger });
    hub.faults.tokenEndpoint('hang');
    const pending = postToken(port, request());
    await log.seen('device token request held');

    const started = Date.now();
    await hub.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(pending).rejects.toThrow();
  });

  it('serves the public keys at /.well-known/jwks.json without the admin token', async () => {
    const { hub, port, clock } = await startTokenHub({ adminToken: 'admin-5e1' });
    const response = await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`);
    const jwks = (await response.json()) as { keys: Array<Record<string, unknown>> };

    expect(response.status).toBe(200);
    expect(jwks).toEqual(await hub.jwks());
    expect(jwks.keys).toEqual([
      { kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: expect.any(String), alg: 'ES256', use: 'sig' },
    ]);
    // Any JOSE library can verify the hub's tokens from the published set alone.
    const { access_token } = (await postToken(port, request())).body as { access_token: string };
    expect(decodeProtectedHeader(access_token)).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]?.kid });
    const { payload } = await jwtVerify(access_token, createLocalJWKSet(jwks as never), {
      issuer: 'cloudtether-hub',
      audience: 'cloudtether',
      currentDate: new Date(clock.now()),
    });
    expect(payload).toMatchObject({ sub: 'device-1', tenant: 'tenant-1', kind: 'device', jti: expect.any(String) });
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'kind', 'nbf', 'sub', 'tenant']);
  });

  it('has no token routes on a hub without the tokens option', async () => {
    const { hub, port } = await startHub({ staticToken: TOKEN });
    expect((await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).status).toBe(404);
    expect((await postToken(port, request())).status).toBe(404);
    await expect(hub.issueToken({ device_id: 'd', tenant_id: 't' })).rejects.toMatchObject({ code: 'tokens_disabled' });
    await expect(hub.jwks()).rejects.toMatchObject({ code: 'tokens_disabled' });
  });
});
