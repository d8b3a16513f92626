import { decodeProtectedHeader, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { TestClient } from '../../hub/helpers.ts';
import { approve, authorize, login, poll, refresh, revoke, startUserHub, type UserTokens } from '../../hub/user-helpers.ts';
import { until } from '../../support/loopback.ts';
import { startRedis } from '../../support/redis-server.ts';

/**
 * Tokens across hub nodes on one Redis (docs/scaling.md, "Several nodes on one Redis"): a user
 * login revoked on one node (logout, RFC 7009) ends the sessions living on its access tokens on
 * every node, and a signing key made on one node verifies and signs on the others. A device
 * login started on one node is approved on a second and redeemed on a third; its refresh token
 * refreshes on any node, and a rotated one presented again on any node revokes the login on all.
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

  it('a login started on node a is approved on b and redeemed on c; refreshed on b; its replay on c revokes it on a and b', async () => {
    const redis = await startRedis();
    const keys = { generateKeyPair: () => generateKeyPair('ES256', { extractable: true }) };
    const [a, b, c] = await Promise.all(
      ['node-a', 'node-b', 'node-c'].map((nodeId) => startUserHub({ engine: { redis: redis.url }, nodeId, tokens: keys })),
    );
    const started = await authorize(a!.port, 'device-1');
    expect(started.status).toBe(200);
    const deviceCode = started.body.device_code as string;
    // Not approved yet, whichever node is asked.
    expect((await poll(b!.port, deviceCode, 'device-1')).body).toEqual({ error: 'authorization_pending' });
    expect(await approve(b!.port, { user_code: started.body.user_code, user_id: 'ada' })).toMatchObject({
      status: 200,
      body: { approved: true },
    });
    for (const node of [a!, b!, c!]) node.clock.advance(1_000); // the poll interval since b's poll, on clocks kept in step
    const granted = await poll(c!.port, deviceCode, 'device-1');
    expect(granted.status).toBe(200);
    const first = granted.body as unknown as UserTokens;
    // Redeemed once: not again on any node.
    expect((await poll(a!.port, deviceCode, 'device-1')).body).toEqual({ error: 'invalid_grant' });

    const refreshed = await refresh(b!.port, first.refresh_token, 'device-1');
    expect(refreshed.status).toBe(200);
    const second = refreshed.body as unknown as UserTokens;
    const kid = (token: string) => decodeProtectedHeader(token).kid;
    // Nodes a and b verify the keys c and b signed with once their notes arrive.
    await until(async () => (await a!.hub.jwks()).keys.some((key) => key.kid === kid(second.access_token)));
    await until(async () => (await b!.hub.jwks()).keys.some((key) => key.kid === kid(second.access_token)));
    const onA = await TestClient.connect(a!.url, { device_id: 'device-1', tenant_id: 'acme', token: second.access_token });

    // The rotated token again, on a third node: a replay, and the whole login is revoked everywhere.
    expect(await refresh(c!.port, first.refresh_token, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await onA.client.closed).toEqual({ code: 4007, reason: 'revoked' });
    expect(await refresh(b!.port, second.refresh_token, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    // Node b refuses the family's access tokens too (the revocation's note reached it).
    await until(async () => {
      const client = await TestClient.open(b!.url);
      client.send({ v: 1, id: 'c-b', ts: 0, type: 'connect', device_id: 'device-1', tenant_id: 'acme', token: second.access_token });
      const answer = await client.next();
      await client.close();
      return answer.type === 'error' && answer.message === 'revoked';
    });
  });
});
