import { createPublicKey } from 'node:crypto';
import { base64url, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { nextEvent, startHub, TestClient, TOKEN } from '../helpers.ts';
import { captureLog, claims, connectWith, LEEWAY_MS, LIFETIME_MS, signAsHub, startTokenHub } from '../token-helpers.ts';

describe('hub-issued tokens on connect', () => {
  it('opens a session for a hub-issued token of the claimed tenant and device', async () => {
    const { hub, url } = await startTokenHub();
    const { token, expiresAt, jti } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
    expect(jti).toMatch(/^[0-9a-f-]{36}$/);
    const opened = nextEvent(hub, 'session_open');

    const { ack } = await TestClient.connect(url, { device_id: 'laptop-1', tenant_id: 'acme', token });
    expect(ack.type).toBe('connect_ack');
    expect((await opened)[0]).toMatchObject({ device_id: 'laptop-1', tenant_id: 'acme' });
    expect(expiresAt).toBe(1_700_000_000_000 + LIFETIME_MS);
  });

  it('accepts the static token too when both are configured, and hub tokens alone without one', async () => {
    const { hub, url } = await startTokenHub({ staticToken: TOKEN });
    await TestClient.connect(url, { device_id: 'd-static', token: TOKEN });
    const { token } = await hub.issueToken({ device_id: 'd-jwt', tenant_id: 'tenant-1' });
    await TestClient.connect(url, { device_id: 'd-jwt', token });
    expect(
      hub
        .devices()
        .map((d) => d.device_id)
        .sort(),
    ).toEqual(['d-jwt', 'd-static']);

    // Neither the static token nor a hub token: refused for what the token check found.
    const { reply, closed } = await connectWith(url, 'not-the-static-token');
    expect(reply).toMatchObject({ code: 'auth_failed', message: 'malformed' });
    expect(closed.code).toBe(4001);
  });

  describe('names why a token it cannot read is refused, whether or not a static token is configured', () => {
    const unreadable: Array<[string, (setup: Awaited<ReturnType<typeof startTokenHub>>) => Promise<string>, string]> = [
      [
        "alg 'none'",
        async ({ hub }) => {
          const kid = (await hub.jwks()).keys[0]?.kid;
          const header = base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }));
          return `${header}.${base64url.encode(JSON.stringify(claims(1_700_000_000_000)))}.`;
        },
        'unsupported_alg',
      ],
      [
        'HS256',
        async ({ hub }) => {
          const kid = (await hub.jwks()).keys[0]?.kid;
          return new SignJWT(claims(1_700_000_000_000)).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(TOKEN));
        },
        'unsupported_alg',
      ],
      [
        'an ES256 key id the hub never had',
        async () => {
          const other = await generateKeyPair('ES256');
          return new SignJWT(claims(1_700_000_000_000)).setProtectedHeader({ alg: 'ES256', kid: 'not-a-hub-kid' }).sign(other.privateKey);
        },
        'unknown_key',
      ],
      ['garbage', async () => 'garbage, not a JWT', 'malformed'],
    ];

    for (const [what, makeToken, code] of unreadable) {
      for (const staticToken of [undefined, TOKEN]) {
        it(`${what} → ${code}, ${staticToken ? 'with' : 'without'} a static token`, async () => {
          const logged = captureLog();
          const started = await startTokenHub({ logger: logged.logger, ...(staticToken && { staticToken }) });
          const token = await makeToken(started);
          const { reply, closed, connectId } = await connectWith(started.url, token);

          expect(reply).toEqual(expect.objectContaining({ type: 'error', code: 'auth_failed', message: code, ref_id: connectId }));
          expect(closed).toEqual({ code: 4001, reason: 'auth_failed' });
          expect(started.hub.devices()).toEqual([]);
          // The static token still opens a session on the same hub.
          if (staticToken) expect((await TestClient.connect(started.url, { token: staticToken })).ack.type).toBe('connect_ack');
          await logged.seen('authentication failed');
          expect(logged.output()).toContain(`"reason":"${code}"`);
          expect(logged.output()).not.toContain(token);
          expect(logged.output()).not.toContain(TOKEN);
        });
      }
    }

    it("a hub without tokens still answers 'authentication failed' to a credential that is not its static token", async () => {
      const { url } = await startHub({ staticToken: TOKEN });
      const { reply, closed } = await connectWith(url, 'garbage, not a JWT');
      expect(reply).toMatchObject({ code: 'auth_failed', message: 'authentication failed' });
      expect(closed).toEqual({ code: 4001, reason: 'auth_failed' });
    });
  });

  describe('refuses with error{auth_failed} naming the reason, then 4001', () => {
    const refusals: Array<[string, (setup: Awaited<ReturnType<typeof startTokenHub>>) => Promise<string>, string]> = [
      [
        'a token signed by another ES256 key under the hub kid (forged)',
        async ({ hub }) => {
          const kid = (await hub.jwks()).keys[0]?.kid;
          const other = await generateKeyPair('ES256');
          return new SignJWT(claims(1_700_000_000_000)).setProtectedHeader({ alg: 'ES256', kid }).sign(other.privateKey);
        },
        'bad_signature',
      ],
      [
        "alg 'none' (unsigned)",
        async ({ hub }) => {
          const kid = (await hub.jwks()).keys[0]?.kid;
          const header = base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }));
          const payload = base64url.encode(JSON.stringify(claims(1_700_000_000_000)));
          return `${header}.${payload}.`;
        },
        'unsupported_alg',
      ],
      [
        'HS256 keyed with the public key bytes (algorithm confusion)',
        async ({ hub }) => {
          const jwk = (await hub.jwks()).keys[0];
          const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
          return new SignJWT(claims(1_700_000_000_000))
            .setProtectedHeader({ alg: 'HS256', kid: jwk?.kid })
            .sign(new TextEncoder().encode(String(pem)));
        },
        'unsupported_alg',
      ],
      [
        'RS256 from a key the hub never had',
        async ({ hub }) => {
          const kid = (await hub.jwks()).keys[0]?.kid;
          const rsa = await generateKeyPair('RS256');
          return new SignJWT(claims(1_700_000_000_000)).setProtectedHeader({ alg: 'RS256', kid }).sign(rsa.privateKey);
        },
        'unsupported_alg',
      ],
      [
        'the hub key without a kid',
        async ({ hub, pairs }) => {
          await hub.jwks();
          return new SignJWT(claims(1_700_000_000_000)).setProtectedHeader({ alg: 'ES256' }).sign(pairs[0]!.privateKey);
        },
        'unknown_key',
      ],
      [
        'another audience',
        async ({ hub, pairs }) => signAsHub(hub, pairs, claims(1_700_000_000_000, { aud: 'billing' })),
        'wrong_audience',
      ],
      ['another issuer', async ({ hub, pairs }) => signAsHub(hub, pairs, claims(1_700_000_000_000, { iss: 'evil-hub' })), 'wrong_issuer'],
      [
        'a token of another tenant',
        async ({ hub }) => (await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-2' })).token,
        'wrong_tenant',
      ],
      [
        'a token of another device',
        async ({ hub }) => (await hub.issueToken({ device_id: 'device-2', tenant_id: 'tenant-1' })).token,
        'wrong_subject',
      ],
      [
        'a token of another kind',
        async ({ hub, pairs }) => signAsHub(hub, pairs, claims(1_700_000_000_000, { kind: 'user' })),
        'malformed',
      ],
      [
        'nbf ahead by more than the leeway',
        async ({ hub, pairs, clock }) => signAsHub(hub, pairs, claims(clock.now(), { nbf: (clock.now() + LEEWAY_MS + 2_000) / 1000 })),
        'not_yet_valid',
      ],
      ['garbage', async () => 'eyJhbGciOiJFUzI1NiJ9.garbage', 'malformed'],
    ];

    for (const [what, makeToken, code] of refusals) {
      it(`${what} → ${code}`, async () => {
        const started = await startTokenHub();
        const token = await makeToken(started);
        const { reply, closed, connectId } = await connectWith(started.url, token);

        expect(reply).toEqual(expect.objectContaining({ type: 'error', code: 'auth_failed', message: code, ref_id: connectId }));
        expect(closed).toEqual({ code: 4001, reason: 'auth_failed' });
        expect(started.hub.devices()).toEqual([]);
      });
    }
  });

  it('refuses an expired token with 4002 token_expired', async () => {
    const { hub, url, clock } = await startTokenHub();
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    clock.advance(LIFETIME_MS + LEEWAY_MS);

    const { reply, closed } = await connectWith(url, token);
    expect(reply).toMatchObject({ type: 'error', code: 'auth_failed', message: 'expired' });
    expect(closed).toEqual({ code: 4002, reason: 'token_expired' });
  });

  it('honours the leeway: a token expired by less than it is accepted, and the session ends at exp + leeway', async () => {
    const { hub, url, clock } = await startTokenHub();
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    clock.advance(LIFETIME_MS + LEEWAY_MS - 1);

    const { client } = await TestClient.connect(url, { token });
    clock.advance(1);
    expect(await client.closed).toEqual({ code: 4002, reason: 'token_expired' });
  });

  it('accepts an nbf ahead by no more than the leeway', async () => {
    const { hub, url, clock, pairs } = await startTokenHub();
    const token = await signAsHub(hub, pairs, claims(clock.now(), { nbf: (clock.now() + LEEWAY_MS) / 1000 }));
    const { ack } = await TestClient.connect(url, { token });
    expect(ack.type).toBe('connect_ack');
  });

  it('closes a session 4002 when its token expires, on the hub clock', async () => {
    const { hub, url, clock } = await startTokenHub();
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    const { client } = await TestClient.connect(url, { token });
    const closed = nextEvent(hub, 'session_close');

    clock.advance(LIFETIME_MS + LEEWAY_MS - 1);
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    clock.advance(1);
    expect(await client.closed).toEqual({ code: 4002, reason: 'token_expired' });
    expect((await closed).slice(1)).toEqual([4002, 'token_expired']);
  });

  it('never expires a static-token session', async () => {
    const { url, clock } = await startTokenHub({ staticToken: TOKEN });
    const { client } = await TestClient.connect(url, { token: TOKEN });
    clock.advance(10 * (LIFETIME_MS + LEEWAY_MS));
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });
});

describe('hub key rotation', () => {
  it('signs with the new key, verifies old tokens until they expire, then drops the old key', async () => {
    const { hub, url, clock } = await startTokenHub();
    const old = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    const oldKid = decodeProtectedHeader(old.token).kid;

    const newKid = await hub.rotateKeys();
    expect(newKid).not.toBe(oldKid);
    expect((await hub.jwks()).keys.map((key) => key.kid)).toEqual([oldKid, newKid]);
    const fresh = await hub.issueToken({ device_id: 'device-2', tenant_id: 'tenant-1' });
    expect(decodeProtectedHeader(fresh.token).kid).toBe(newKid);

    // The old-kid token still verifies after the rotation.
    const { ack } = await TestClient.connect(url, { token: old.token });
    expect(ack.type).toBe('connect_ack');

    clock.advance(LIFETIME_MS + LEEWAY_MS - 1);
    expect((await hub.jwks()).keys.map((key) => key.kid)).toEqual([oldKid, newKid]);
    clock.advance(1);
    expect((await hub.jwks()).keys.map((key) => key.kid)).toEqual([newKid]);
    const { reply } = await connectWith(url, old.token);
    expect(reply).toMatchObject({ code: 'auth_failed', message: 'unknown_key' });
  });
});
