import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { HttpAdapter, HttpRequest, HttpResponse } from '../../src/adapters/http.ts';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import { createConnector } from '../../src/connector/connector.ts';
import { frame } from '../support/frames.ts';

const secret = new TextEncoder().encode('test-only-signing-key-0123456789ab');

/** A token endpoint scripted by the test: each request gets the next answer (a JWT by default). */
function scriptedTokenEndpoint(clock: SimulatedClock, lifetimeS = 60) {
  const requests: HttpRequest[] = [];
  const script: Array<Partial<HttpResponse> | 'jwt'> = [];
  const http: HttpAdapter = {
    async request(request) {
      // Settings sync shares the adapter; these tests script the token endpoint only.
      if (new URL(request.url).pathname.startsWith('/v1/settings')) return { status: 404, headers: {}, body: undefined };
      requests.push(request);
      const next = script.shift() ?? 'jwt';
      if (next !== 'jwt') return { status: 200, headers: {}, body: undefined, ...next };
      const nowS = Math.floor(clock.now() / 1000);
      const token = await new SignJWT({ tenant: 'local' })
        .setProtectedHeader({ alg: 'HS256' })
        .setJti(crypto.randomUUID())
        .setSubject('dev-1')
        .setIssuedAt(nowS)
        .setExpirationTime(nowS + lifetimeS)
        .sign(secret);
      return { status: 200, headers: {}, body: { access_token: token, token_type: 'Bearer', expires_in: lifetimeS } };
    },
  };
  return { http, requests, script };
}

function fixture(lifetimeS = 60) {
  const clock = new SimulatedClock();
  clock.set(1_800_000_000_000);
  const net = createMemoryNetwork();
  const endpoint = scriptedTokenEndpoint(clock, lifetimeS);
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
  const connector = createConnector(
    { url: 'ws://hub.test:7070/v1/connect', credential: 'enrollment-secret', deviceId: 'dev-1', seed: 9 },
    { socket: net.adapter, clock, http: endpoint.http },
  );
  return { clock, net, endpoint, connector };
}

describe('connector in device mode', () => {
  it('gets a token from the token endpoint first, then connects with it', async () => {
    const { connector, net, endpoint } = fixture();
    connector.start();
    const up = await connector.waitFor((s) => s.connection.state === 'connected');
    expect(endpoint.requests).toHaveLength(1);
    expect(endpoint.requests[0]).toMatchObject({
      method: 'POST',
      url: 'http://hub.test:7070/v1/device-token',
      json: { device_id: 'dev-1', tenant_id: 'local', credential: 'enrollment-secret' },
    });
    const connect = JSON.parse(net.latest()!.received[0]!);
    expect(connect.token.split('.')).toHaveLength(3);
    expect(up.auth).toMatchObject({ state: 'valid', reason: 'token_issued' });
    // 60 s from iat to exp, counted from receipt, less the second NumericDates may have lost.
    expect(up.auth.expiresAt).toBe(1_800_000_059_000);
  });

  it('refreshes before expiry on the open connection: auth_refresh, same session, no reconnect', async () => {
    const { connector, net, endpoint, clock } = fixture();
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    const first = JSON.parse(net.latest()!.received[0]!).token;
    clock.increment(52_000); // past 70-85 % of 60 s
    await connector.waitFor((s) => s.auth.state === 'valid' && endpoint.requests.length === 2);
    const refresh = net
      .latest()!
      .received.map((f) => JSON.parse(f))
      .find((m) => m.type === 'auth_refresh');
    expect(refresh).toMatchObject({ id: 'auth_refresh:1' });
    expect(refresh.token).not.toBe(first);
    net.latest()!.send(frame({ type: 'auth_refresh_ack', expires_at: 0 }));
    expect(net.peers).toHaveLength(1);
    expect(connector.status.connection).toMatchObject({ state: 'connected', sessionId: 's1' });
  });

  it('keeps the session through a 429 from the token endpoint and retries after Retry-After', async () => {
    const { connector, endpoint, clock } = fixture();
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    endpoint.script.push({ status: 429, headers: { 'retry-after': '7' }, body: { error: 'slow_down' } });
    clock.increment(52_000);
    const waiting = await connector.waitFor((s) => s.auth.state === 'waiting');
    expect(waiting.auth.retryInMs).toBeGreaterThanOrEqual(7_000);
    expect(waiting.connection.state).toBe('connected');
    clock.increment(waiting.auth.retryInMs!);
    await connector.waitFor((s) => s.auth.state === 'valid' && endpoint.requests.length === 3);
  });

  it('stops with the reason when the credential is refused, without a retry loop', async () => {
    const { connector, endpoint, net, clock } = fixture();
    endpoint.script.push({ status: 401, body: { error: 'invalid_credentials' } });
    connector.start();
    const failed = await connector.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection.reason).toBe('credentials_rejected');
    expect(failed.auth).toMatchObject({ state: 'unauthorized', reason: 'credentials_rejected' });
    clock.increment(3_600_000);
    expect(endpoint.requests).toHaveLength(1);
    expect(net.peers).toHaveLength(0);
  });

  it('refreshes once when the hub says the token expired (4002), then reconnects with the new one', async () => {
    const { connector, endpoint, net, clock } = fixture();
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    net.latest()!.close(4002, 'token_expired');
    clock.increment(0);
    await connector.waitFor((s) => s.connection.state === 'connected' && net.peers.length === 2);
    expect(endpoint.requests).toHaveLength(2);
    const tokens = net.peers.map((p) => JSON.parse(p.received[0]!).token);
    expect(tokens[1]).not.toBe(tokens[0]);
  });

  it('gives up after the hub refuses a fresh token too (second rejection in a row)', async () => {
    const { connector, net, clock } = fixture();
    net.onConnection = (peer) => {
      peer.accept();
      peer.close(4001, 'auth_failed');
    };
    connector.start();
    // First refusal: one fresh token and a retry. Second refusal in a row: definitive, at once.
    const retry = await connector.waitFor((s) => s.connection.state === 'disconnected');
    expect(retry.connection.reason).toBe('auth_failed');
    clock.increment(retry.connection.retryInMs!);
    const failed = await connector.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection.reason).toBe('rejected_by_hub');
    expect(failed.auth).toMatchObject({ state: 'unauthorized', reason: 'rejected_by_hub' });
    expect(net.peers).toHaveLength(2);
    clock.increment(3_600_000);
    expect(net.peers).toHaveLength(2);
  });
});

describe('connector in device mode, parked', () => {
  it('stops refreshing while no session uses the token, and refreshes on demand when one does', async () => {
    const { connector, endpoint, net, clock } = fixture();
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    net.latest()!.close(4003, 'replaced'); // another process took the device id: failed for good
    await connector.waitFor((s) => s.connection.state === 'failed');
    clock.increment(600_000); // ten token lifetimes
    expect(endpoint.requests).toHaveLength(1);
    connector.actor.send({ type: 'connect' }); // the host tries again: one fresh token, then connected
    await connector.waitFor((s) => s.connection.state === 'connected');
    expect(endpoint.requests).toHaveLength(2);
  });
});
