import { createPublicKey } from 'node:crypto';
import { base64url, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { api, asDevice } from '../hub/api-helpers.ts';
import { connectFrame, envelope, TestClient } from '../hub/helpers.ts';
import { claims, connectWith, LEEWAY_MS, LIFETIME_MS, signAsHub, startTokenHub } from '../hub/token-helpers.ts';

/*
 * Forged and misused tokens. On `connect` most of these are refused in test/hub/token-auth.test.ts
 * (alg none, HS256 keyed with the public key, another key under the hub's kid, audience,
 * issuer, tenant, device, nbf, expiry) and test/hub/revocation.test.ts (revoked); expired,
 * revoked and other devices' tokens at the REST API in test/hub/api-auth.test.ts, other tenants'
 * and devices' at the settings routes in test/hub/settings.test.ts. Here: a kid the hub never
 * had, the forgeries at the REST API and the settings routes, and replayed connects.
 */

type Started = Awaited<ReturnType<typeof startTokenHub>>;
const NOW = 1_700_000_000_000; // the token hub's manual clock at its start

/** Tokens for device-1 of tenant-1 that the hub must refuse, each forged or misused one way. */
const forgeries: Array<[what: string, make: (started: Started) => Promise<string>]> = [
  [
    "alg 'none'",
    async ({ hub }) => {
      const kid = (await hub.jwks()).keys[0]?.kid;
      return `${base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }))}.${base64url.encode(JSON.stringify(claims(NOW)))}.`;
    },
  ],
  [
    "HS256 keyed with the hub's public key",
    async ({ hub }) => {
      const jwk = (await hub.jwks()).keys[0];
      const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
      return new SignJWT(claims(NOW)).setProtectedHeader({ alg: 'HS256', kid: jwk?.kid }).sign(new TextEncoder().encode(String(pem)));
    },
  ],
  [
    'a kid the hub never had, signed with its real key',
    async ({ hub, pairs }) => {
      await hub.jwks();
      return new SignJWT(claims(NOW)).setProtectedHeader({ alg: 'ES256', kid: 'not-a-hub-kid' }).sign(pairs[0]!.privateKey);
    },
  ],
  [
    "another ES256 key under the hub's kid",
    async ({ hub }) => {
      const kid = (await hub.jwks()).keys[0]?.kid;
      return new SignJWT(claims(NOW)).setProtectedHeader({ alg: 'ES256', kid }).sign((await generateKeyPair('ES256')).privateKey);
    },
  ],
  ['another audience', ({ hub, pairs }) => signAsHub(hub, pairs, claims(NOW, { aud: 'billing' }))],
  ['another issuer', ({ hub, pairs }) => signAsHub(hub, pairs, claims(NOW, { iss: 'evil-hub' }))],
  ['nbf ahead by more than the leeway', ({ hub, pairs }) => signAsHub(hub, pairs, claims(NOW, { nbf: (NOW + LEEWAY_MS + 2_000) / 1000 }))],
];

describe('forged tokens', () => {
  it('refuses a kid the hub never had on connect (unknown_key, 4001), even signed with its real key', async () => {
    const started = await startTokenHub();
    const token = await forgeries[2]![1](started);
    const { reply, closed, connectId } = await connectWith(started.url, token);
    expect(reply).toMatchObject({ type: 'error', code: 'auth_failed', message: 'unknown_key', ref_id: connectId });
    expect(closed).toEqual({ code: 4001, reason: 'auth_failed' });
  });

  for (const [what, make] of forgeries) {
    it(`refuses ${what} at the REST API and the settings routes (401)`, async () => {
      const started = await startTokenHub();
      const headers = asDevice({ device_id: 'device-1', tenant_id: 'tenant-1', token: await make(started) });
      for (const path of ['/v1/whoami', '/v1/usage', '/v1/settings']) {
        const answer = await api(started.port, 'GET', path, headers);
        expect(answer, path).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      }
      // The genuine article is taken, so the refusals were the forgery's.
      const { token } = await started.hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
      expect((await api(started.port, 'GET', '/v1/whoami', asDevice({ token }))).status).toBe(200);
    });
  }
});

describe('replayed connect', () => {
  it('on the same socket: the copy is refused as schema_violation and the session goes on', async () => {
    const { hub, url } = await startTokenHub();
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    const client = await TestClient.open(url);
    const text = JSON.stringify(connectFrame({ token }));
    // Back to back: the copy arrives while the token is still being verified, and waits its turn.
    client.send(text);
    client.send(text);
    expect(await client.next()).toMatchObject({ type: 'connect_ack' });
    expect(await client.next()).toMatchObject({
      type: 'error',
      code: 'schema_violation',
      ref_id: JSON.parse(text).id,
      message: expect.stringContaining('already established'),
    });
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    expect(hub.devices()).toHaveLength(1);
  });

  /** A session opened with a recorded connect frame, then moved on to a fresh token in band. */
  async function refreshedSession(started: Started) {
    const { hub, url, clock } = started;
    const recorded = JSON.stringify(
      connectFrame({ token: (await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' })).token }),
    );
    const device = await TestClient.open(url);
    device.send(recorded);
    expect(await device.next()).toMatchObject({ type: 'connect_ack' });
    clock.advance(1_500);
    device.send(envelope('auth_refresh', { token: (await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' })).token }));
    expect(await device.next()).toMatchObject({ type: 'auth_refresh_ack' });
    return { device, recorded };
  }

  // A token is a bearer credential until its exp: a refresh does not withdraw the one before it
  // (docs/protocol.md, "In-band refresh", "Revocation"), and a second connection of a device
  // replaces the first. So a recorded connect still opens a session while its token lives.
  it('on a new socket, while its token lives: taken, and it replaces the session that moved on (4003)', async () => {
    const started = await startTokenHub();
    const { device, recorded } = await refreshedSession(started);
    const replay = await TestClient.open(started.url);
    replay.send(recorded);
    expect(await replay.next()).toMatchObject({ type: 'connect_ack' });
    expect(await device.closed).toEqual({ code: 4003, reason: 'replaced' });
  });

  it('on a new socket, once its token expired: refused (expired, 4002), and the refreshed session goes on', async () => {
    const started = await startTokenHub();
    const { device, recorded } = await refreshedSession(started);
    // Past the recorded token's exp + leeway, within the refreshed token's.
    started.clock.advance(LIFETIME_MS + LEEWAY_MS - 1_500 + 100);
    const replay = await TestClient.open(started.url);
    replay.send(recorded);
    expect(await replay.next()).toMatchObject({ type: 'error', code: 'auth_failed', message: 'expired', ref_id: JSON.parse(recorded).id });
    expect(await replay.closed).toEqual({ code: 4002, reason: 'token_expired' });
    const seq = device.heartbeat();
    expect(await device.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    expect(started.hub.devices()).toHaveLength(1);
  });
});
