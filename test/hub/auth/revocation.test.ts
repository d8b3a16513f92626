import { describe, expect, it } from 'vitest';
import { envelope, nextEvent, TestClient, TOKEN } from '../helpers.ts';
import { connectWith, ENROLL_SECRET, postToken, startTokenHub } from '../token-helpers.ts';

const who = { device_id: 'device-1', tenant_id: 'tenant-1' };

describe('hub revocation', () => {
  it('revokeDevice closes the sessions 4007 and refuses reconnection and new tokens until unrevoked', async () => {
    const { hub, url, port } = await startTokenHub();
    const { token } = await hub.issueToken(who);
    const { client } = await TestClient.connect(url, { token });
    const { client: bystander } = await TestClient.connect(url, {
      device_id: 'device-2',
      token: (await hub.issueToken({ ...who, device_id: 'device-2' })).token,
    });
    const closed = nextEvent(hub, 'session_close');

    expect(hub.revokeDevice('device-1')).toBe(1);
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
    expect((await closed).slice(1)).toEqual([4007, 'revoked']);

    const again = await connectWith(url, token);
    expect(again.reply).toMatchObject({ type: 'error', code: 'auth_failed', message: 'revoked' });
    expect(again.closed).toEqual({ code: 4007, reason: 'revoked' });
    expect(await postToken(port, { ...who, credential: ENROLL_SECRET })).toMatchObject({ status: 401, body: { error: 'revoked' } });
    // Another device of the tenant is untouched.
    const seq = bystander.heartbeat();
    expect(await bystander.next()).toMatchObject({ type: 'heartbeat_ack', seq });

    hub.unrevokeDevice('device-1');
    expect((await TestClient.connect(url, { token })).ack.type).toBe('connect_ack');
  });

  it('revokes in one tenant only when given tenantId', async () => {
    const { hub, url } = await startTokenHub();
    const { client: inT1 } = await TestClient.connect(url, { token: (await hub.issueToken(who)).token });
    const other = { ...who, tenant_id: 'tenant-2' };
    const { client: inT2 } = await TestClient.connect(url, { ...other, token: (await hub.issueToken(other)).token });

    expect(hub.revokeDevice('device-1', { tenantId: 'tenant-2' })).toBe(1);
    expect((await inT2.closed).code).toBe(4007);
    const seq = inT1.heartbeat();
    expect(await inT1.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    expect(hub.devices().map((d) => d.tenant_id)).toEqual(['tenant-1']);
  });

  it('refuses a revoked device whatever its credential, a static token included', async () => {
    const { hub, url } = await startTokenHub({ staticToken: TOKEN });
    hub.revokeDevice('device-1');

    const { reply, closed } = await connectWith(url, TOKEN);
    expect(reply).toMatchObject({ code: 'auth_failed', message: 'revoked' });
    expect(closed.code).toBe(4007);
    // A wrong credential is refused as such: revocation is only told to the device's owner.
    expect((await connectWith(url, 'wrong')).closed.code).toBe(4001);
  });

  it('POST /v1/devices/{id}/revoke revokes behind the admin token', async () => {
    const { hub, url, port } = await startTokenHub({ adminToken: 'admin-91c' });
    const { client } = await TestClient.connect(url, { token: (await hub.issueToken(who)).token });
    const revoke = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${port}/v1/devices/device-1/revoke?tenant_id=tenant-1`, { method: 'POST', headers });

    expect((await revoke({})).status).toBe(401);
    const answer = await revoke({ authorization: 'Bearer admin-91c' });
    expect([answer.status, await answer.json()]).toEqual([200, { device_id: 'device-1', tenant_id: 'tenant-1', closed: 1 }]);
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
    const get = await fetch(`http://127.0.0.1:${port}/v1/devices/device-1/revoke`, { headers: { authorization: 'Bearer admin-91c' } });
    expect(get.status).toBe(405);
  });

  it('revokeToken closes the session living on it and refuses that token only', async () => {
    const { hub, url } = await startTokenHub();
    const revoked = await hub.issueToken(who);
    const spare = await hub.issueToken(who);
    const { client } = await TestClient.connect(url, { token: revoked.token });

    expect(hub.revokeToken(revoked.jti)).toBe(1);
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
    const again = await connectWith(url, revoked.token);
    expect(again.reply).toMatchObject({ code: 'auth_failed', message: 'revoked' });
    expect(again.closed.code).toBe(4007);
    const { client: next } = await TestClient.connect(url, { token: spare.token });

    // As a refresh it is refused too, and the session goes on.
    const refresh = envelope('auth_refresh', { token: revoked.token });
    next.send(refresh);
    expect(await next.next()).toMatchObject({ code: 'auth_failed', ref_id: refresh.id, message: 'revoked' });
    const seq = next.heartbeat();
    expect(await next.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });

  it('revokeToken leaves a session that has refreshed away from the token', async () => {
    const { hub, url } = await startTokenHub();
    const first = await hub.issueToken(who);
    const { client } = await TestClient.connect(url, { token: first.token });
    client.send(envelope('auth_refresh', { token: (await hub.issueToken(who)).token }));
    expect((await client.next()).type).toBe('auth_refresh_ack');

    expect(hub.revokeToken(first.jti)).toBe(0);
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });
});
