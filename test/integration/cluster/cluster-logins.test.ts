import { decodeProtectedHeader, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { TestClient } from '../../hub/helpers.ts';
import { login, revoke, startUserHub } from '../../hub/user-helpers.ts';
import { until } from '../../support/loopback.ts';
import { startRedis } from '../../support/redis-server.ts';

/**
 * Tokens across hub nodes on one Redis (docs/scaling.md, "Several nodes on one Redis"): a user
 * login revoked on one node (logout, RFC 7009) ends the sessions living on its access tokens on
 * every node, and a signing key made on one node verifies and signs on the others.
 */
describe('tokens across hub nodes on one Redis', () => {
  it('a logout on node a closes the session on node b with 4007, and node b refuses its access token after', async () => {
    const redis = await startRedis();
    // Keys Redis can keep: both halves exported as JWKs.
    const keys = { generateKeyPair: () => generateKeyPair('ES256', { extractable: true }) };
    const a = await startUserHub({ engine: { redis: redis.url }, nodeId: 'node-a', tokens: keys });
    const b = await startUserHub({ engine: { redis: redis.url }, nodeId: 'node-b', tokens: keys });
    const tokens = await login(a.hub, a.port);
    const who = { device_id: 'device-1', tenant_id: tokens.organization.id, token: tokens.access_token };
    // Node a made the first key when it signed; node b reads it once a's note reaches it.
    const { kid } = decodeProtectedHeader(tokens.access_token);
    await until(async () => (await b.hub.jwks()).keys.some((key) => key.kid === kid));
    const { client } = await TestClient.connect(b.url, who);

    const answer = await revoke(a.port, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }, { form: true });
    expect(answer.status).toBe(200);
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
    const again = await TestClient.open(b.url);
    again.send({ v: 1, id: 'c-2', ts: 0, type: 'connect', ...who });
    expect(await again.next()).toMatchObject({ type: 'error', code: 'auth_failed', message: 'revoked' });
  });

  it('a key rotated in on node a verifies on node b, which signs with it too', async () => {
    const redis = await startRedis();
    const keys = { generateKeyPair: () => generateKeyPair('ES256', { extractable: true }) };
    const a = await startUserHub({ engine: { redis: redis.url }, nodeId: 'node-a', tokens: keys });
    const b = await startUserHub({ engine: { redis: redis.url }, nodeId: 'node-b', tokens: keys });
    const first = decodeProtectedHeader((await b.hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' })).token).kid;
    const rotated = await a.hub.rotateKeys();
    expect(rotated).not.toBe(first);
    // Node b reads the keys again on a's note: its JWKS lists the new key, and it signs with it.
    await until(async () => (await b.hub.jwks()).keys.some((key) => key.kid === rotated));
    expect(decodeProtectedHeader((await b.hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' })).token).kid).toBe(rotated);
    const tokens = await login(a.hub, a.port);
    expect(decodeProtectedHeader(tokens.access_token).kid).toBe(rotated);
    const { ack } = await TestClient.connect(b.url, {
      device_id: 'device-1',
      tenant_id: tokens.organization.id,
      token: tokens.access_token,
    });
    expect(ack.type).toBe('connect_ack');
  });
});
