import { describe, expect, it } from 'vitest';
import { envelope, nextEvent, startHub, TestClient, TOKEN } from '../helpers.ts';
import { LEEWAY_MS, LIFETIME_MS, startTokenHub } from '../token-helpers.ts';

const who = { device_id: 'device-1', tenant_id: 'tenant-1' };

describe('in-band token refresh', () => {
  it('auth_refresh with a fresh token moves the expiry: the session outlives its first token', async () => {
    const { hub, url, clock } = await startTokenHub();
    const first = await hub.issueToken(who);
    const { client } = await TestClient.connect(url, { token: first.token });

    clock.advance(1_000);
    const second = await hub.issueToken(who);
    expect(second.expiresAt).toBe(first.expiresAt + 1_000);
    client.send(envelope('auth_refresh', { token: second.token }));
    expect(await client.next()).toMatchObject({ type: 'auth_refresh_ack', expires_at: second.expiresAt });

    // Past the first token's exp + leeway: still open.
    clock.advance(first.expiresAt + LEEWAY_MS - clock.now());
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    // The second token's end is the session's end.
    clock.advance(second.expiresAt + LEEWAY_MS - clock.now() - 1);
    const seq2 = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq: seq2 });
    clock.advance(1);
    expect(await client.closed).toEqual({ code: 4002, reason: 'token_expired' });
  });

  it('answers a refused refresh with error{auth_failed, ref_id} and keeps the session until the old expiry', async () => {
    const { hub, url, clock } = await startTokenHub();
    const { token, expiresAt } = await hub.issueToken(who);
    const { client } = await TestClient.connect(url, { token });

    const garbage = envelope('auth_refresh', { token: 'not.a.jwt' });
    client.send(garbage);
    expect(await client.next()).toMatchObject({ type: 'error', code: 'auth_failed', ref_id: garbage.id, message: 'malformed' });
    const otherDevice = envelope('auth_refresh', { token: (await hub.issueToken({ ...who, device_id: 'device-2' })).token });
    client.send(otherDevice);
    expect(await client.next()).toMatchObject({ code: 'auth_failed', ref_id: otherDevice.id, message: 'wrong_subject' });

    clock.advance(expiresAt + LEEWAY_MS - clock.now() - 1);
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    clock.advance(1);
    expect(await client.closed).toEqual({ code: 4002, reason: 'token_expired' });
  });

  it('can still refresh after a refused attempt, before the current token runs out', async () => {
    const { hub, url, clock } = await startTokenHub();
    const { token, expiresAt } = await hub.issueToken(who);
    const { client } = await TestClient.connect(url, { token });
    client.send(envelope('auth_refresh', { token: 'garbage' }));
    expect((await client.next()).code).toBe('auth_failed');

    // Within the leeway after exp: late, but not too late.
    clock.advance(LIFETIME_MS + LEEWAY_MS / 2);
    const fresh = await hub.issueToken(who);
    client.send(envelope('auth_refresh', { token: fresh.token }));
    expect(await client.next()).toMatchObject({ type: 'auth_refresh_ack', expires_at: fresh.expiresAt });
    clock.advance(expiresAt + LEEWAY_MS - clock.now());
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });

  it('applies refreshes in the order they were sent', async () => {
    const { hub, url, clock } = await startTokenHub();
    const { client } = await TestClient.connect(url, { token: (await hub.issueToken(who)).token });
    const tokens = [];
    for (let i = 0; i < 3; i++) {
      // Distinct whole-second exps, all before the first token runs out.
      clock.advance(900);
      tokens.push(await hub.issueToken(who));
    }
    expect(new Set(tokens.map((t) => t.expiresAt)).size).toBe(3);
    for (const { token } of tokens) client.send(envelope('auth_refresh', { token }));

    const acks = [await client.next(), await client.next(), await client.next()];
    expect(acks.map((ack) => ack.expires_at)).toEqual(tokens.map((t) => t.expiresAt));
  });

  it('refuses auth_refresh on a static-token session, which goes on', async () => {
    const { url } = await startHub({ staticToken: TOKEN });
    const { client } = await TestClient.connect(url);
    const refresh = envelope('auth_refresh', { token: TOKEN });
    client.send(refresh);

    expect(await client.next()).toMatchObject({ type: 'error', code: 'auth_failed', ref_id: refresh.id });
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });

  it('refuses auth_refresh from a static session on a hub that also issues tokens', async () => {
    const { hub, url } = await startTokenHub({ staticToken: TOKEN });
    const { client } = await TestClient.connect(url, { token: TOKEN });
    const refresh = envelope('auth_refresh', { token: (await hub.issueToken(who)).token });
    client.send(refresh);

    expect(await client.next()).toMatchObject({ code: 'auth_failed', ref_id: refresh.id, message: 'static credentials do not refresh' });
  });

  it('handles an auth_refresh pipelined behind connect once the session is open', async () => {
    const { hub, url } = await startTokenHub();
    const { token } = await hub.issueToken(who);
    const fresh = await hub.issueToken(who);
    const client = await TestClient.open(url);
    const opened = nextEvent(hub, 'session_open');
    client.send(envelope('connect', { ...who, token }));
    client.send(envelope('auth_refresh', { token: fresh.token }));

    expect((await client.next()).type).toBe('connect_ack');
    expect(await client.next()).toMatchObject({ type: 'auth_refresh_ack', expires_at: fresh.expiresAt });
    await opened;
  });
});
