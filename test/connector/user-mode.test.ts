import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { HttpAdapter, HttpRequest, HttpResponse } from '../../src/adapters/http.ts';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import { createMemoryStorage } from '../../src/adapters/storage.ts';
import { createConnector, type ConnectorEvent } from '../../src/connector/connector.ts';
import { createSecretStore } from '../../src/storage/secret-store.ts';
import { flush } from '../support/harness.ts';
import { frame } from '../support/frames.ts';

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const orgs = [
  { id: 'org-a', name: 'Acme', role: 'owner' },
  { id: 'org-b', name: 'Globex', role: 'member' },
];

/** The hub's OAuth endpoints, played by the test: each path answers from its queue or a default. */
function oauthHub(clock: SimulatedClock) {
  const requests: HttpRequest[] = [];
  const queued: Record<string, Array<Partial<HttpResponse>>> = {};
  let serial = 0;
  let org = orgs[0]!;
  const tokens = (organization?: string) => {
    if (organization) org = orgs.find((o) => o.id === organization)!;
    const exp = Math.floor(clock.now() / 1000) + 600;
    return {
      status: 200,
      headers: {},
      body: {
        access_token: `${b64({ alg: 'ES256' })}.${b64({ sub: 'u-1', tenant: org.id, exp, jti: `j${++serial}` })}.c2ln`,
        token_type: 'Bearer',
        expires_in: 600,
        refresh_token: `rt-${serial}`,
        user_id: 'u-1',
        organization: org,
        organizations: orgs,
      },
    };
  };
  const http: HttpAdapter = {
    async request(request) {
      requests.push(request);
      const path = new URL(request.url).pathname;
      const next = queued[path]?.shift();
      if (next) return { status: 200, headers: {}, body: undefined, ...next };
      const json = request.json as Record<string, string>;
      if (path === '/v1/oauth/device_authorization') {
        return {
          status: 200,
          headers: {},
          body: {
            device_code: 'dc-secret',
            user_code: 'WDJB-MJHT',
            verification_uri: 'http://hub.test/v1/oauth/verify',
            expires_in: 600,
            interval: 5,
          },
        };
      }
      if (path === '/v1/oauth/token') {
        if (json.organization && !orgs.some((o) => o.id === json.organization))
          return { status: 400, headers: {}, body: { error: 'invalid_scope' } };
        return tokens(json.organization);
      }
      if (path === '/v1/oauth/revoke') return { status: 200, headers: {}, body: {} };
      return { status: 404, headers: {}, body: { error: 'not_found' } };
    },
  };
  return { http, requests, queue: (path: string, ...r: Array<Partial<HttpResponse>>) => (queued[path] ??= []).push(...r) };
}

function fixture(refreshToken?: string) {
  const clock = new SimulatedClock();
  clock.set(1_800_000_000_000);
  const net = createMemoryNetwork();
  net.onConnection = (peer) => {
    peer.accept();
    peer.send(
      frame({
        type: 'connect_ack',
        session_id: `s${net.peers.length}`,
        heartbeat_interval_ms: 600_000,
        heartbeat_timeout_ms: 600_000,
        server_time: 0,
        max_frame_bytes: 1 << 20,
      }),
    );
  };
  const hub = oauthHub(clock);
  const storage = createMemoryStorage(refreshToken ? { refresh_token: refreshToken } : {});
  const connector = createConnector(
    { url: 'ws://hub.test/v1/connect', userLogin: true, deviceId: 'dev-1', seed: 2 },
    { socket: net.adapter, clock, http: hub.http, secrets: createSecretStore(storage) },
  );
  const events: ConnectorEvent[] = [];
  connector.events$.subscribe((e) => events.push(e));
  return { clock, net, hub, storage, connector, events };
}

const connectFrame = (net: ReturnType<typeof createMemoryNetwork>, i: number) => JSON.parse(net.peers[i]!.received[0]!);

describe('connector in user mode', () => {
  it("waits logged out, then logs in with a device code: slow_down honoured, and connects to the user's organization", async () => {
    const { connector, net, hub, clock, storage } = fixture();
    connector.start();
    const out = await connector.waitFor((s) => s.auth.state === 'logged_out');
    expect(out.auth.reason).toBe('not_logged_in');
    expect(out.connection.state).toBe('connecting'); // waiting for a token, nothing opened
    expect(net.peers).toHaveLength(0);

    hub.queue('/v1/oauth/token', { status: 400, body: { error: 'authorization_pending' } }, { status: 400, body: { error: 'slow_down' } });
    const prompt = await connector.login();
    expect(prompt).toMatchObject({ userCode: 'WDJB-MJHT', verificationUri: 'http://hub.test/v1/oauth/verify' });
    expect(JSON.stringify(connector.status)).not.toContain('dc-secret'); // the device code stays inside
    const polls = () => hub.requests.filter((r) => r.url.endsWith('/v1/oauth/token')).length;
    clock.increment(4_999);
    expect(polls()).toBe(0);
    clock.increment(1);
    expect(polls()).toBe(1); // authorization_pending
    await flush();
    clock.increment(5_000);
    expect(polls()).toBe(2); // slow_down: the next poll waits 5 s longer
    await flush();
    clock.increment(9_999);
    expect(polls()).toBe(2);
    clock.increment(1);
    expect(polls()).toBe(3);
    const up = await connector.waitFor((s) => s.connection.state === 'connected');
    expect(up.auth.user).toMatchObject({ userId: 'u-1', organization: { id: 'org-a' } });
    expect(connectFrame(net, 0)).toMatchObject({ tenant_id: 'org-a', device_id: 'dev-1' });
    expect(storage.entries.get('refresh_token')!.toString()).toBe('rt-1');
  });

  it('resumes a stored session at start: the refresh token is used and rotated', async () => {
    const { connector, storage, hub } = fixture('rt-stored');
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    expect(hub.requests[0]!.json).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'rt-stored', client_id: 'dev-1' });
    expect(storage.entries.get('refresh_token')!.toString()).toBe('rt-1');
  });

  it('switches organization: the old session closes before the new one opens, in the new tenant', async () => {
    const { connector, net, events } = fixture('rt-stored');
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    const got: string[] = [];
    connector.on('message', ({ message }) => got.push(message.type));
    const old = net.latest()!;
    await connector.switchOrganization('org-b');
    await connector.waitFor((s) => s.connection.state === 'connected' && net.peers.length === 2);
    expect(old.state).toBe('closed');
    expect(net.maxLive).toBe(1);
    expect(connectFrame(net, 1)).toMatchObject({ tenant_id: 'org-b' });
    old.send(
      frame({
        type: 'messaging_event',
        request_id: 'late',
        channel: 'line',
        event_type: 'message',
        message: { text: 'old tenant' },
        user_id: 'u',
      }),
    );
    expect(got).toEqual([]);
    expect(connector.status.auth.user?.organization.id).toBe('org-b');
    expect(events.some((e) => e.type === 'tenant_changed' && e.tenant === 'org-b')).toBe(true);
  });

  it('refuses a switch to an organization the user is not in, and stays where it is', async () => {
    const { connector, net } = fixture('rt-stored');
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    await expect(connector.switchOrganization('org-zzz')).rejects.toThrow('not_a_member');
    expect(connector.status.connection).toMatchObject({ state: 'connected', sessionId: 's1' });
    expect(net.peers).toHaveLength(1);
  });

  it('logs out: revokes the refresh token at the hub, forgets it, drops the session and waits', async () => {
    const { connector, net, hub, storage } = fixture('rt-stored');
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    await connector.logout();
    expect(hub.requests.at(-1)).toMatchObject({
      url: 'http://hub.test/v1/oauth/revoke',
      json: { token: 'rt-1', token_type_hint: 'refresh_token' },
    });
    expect(storage.entries.has('refresh_token')).toBe(false);
    const after = await connector.waitFor((s) => s.auth.state === 'logged_out');
    expect(after.auth.reason).toBe('logged_out');
    expect(after.connection.state).toBe('connecting');
    expect(net.live()).toBe(0);
  });

  it('ends the session when the hub no longer honours the refresh token (invalid_grant)', async () => {
    const { connector, hub, storage } = fixture('rt-revoked');
    hub.queue('/v1/oauth/token', { status: 400, body: { error: 'invalid_grant' } });
    connector.start();
    const out = await connector.waitFor((s) => s.auth.state === 'logged_out');
    expect(out.auth.reason).toBe('session_ended');
    expect(storage.entries.has('refresh_token')).toBe(false);
  });

  it('says so when the user denies the login', async () => {
    const { connector, hub, clock } = fixture();
    connector.start();
    await connector.waitFor((s) => s.auth.state === 'logged_out');
    hub.queue('/v1/oauth/token', { status: 400, body: { error: 'access_denied' } });
    await connector.login();
    clock.increment(5_000);
    const denied = await connector.waitFor((s) => s.auth.state === 'logged_out');
    expect(denied.auth.reason).toBe('login_denied');
  });
});
