import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createConnector, type Connector } from '../../src/connector/connector.ts';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { createHub } from '../../src/hub/index.ts';
import { hubClockOf } from '../support/loopback.ts';

/*
 * The auth machine against the real hub over loopback: real sockets, real HTTP to the token
 * endpoint, real ES256 tokens. Hub and connector share one SimulatedClock, so a 20-second session
 * of 2-second tokens runs in milliseconds and nothing sleeps.
 */

const SECRET = 'enrollment-secret-for-tests';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(lifetimeMs: number, config: Partial<ConnectorConfigInput> = {}) {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const hub = createHub({
    // Heartbeats slower than the session: this test is about tokens.
    heartbeatIntervalMs: 600_000,
    heartbeatTimeoutMs: 600_000,
    tokens: { lifetimeMs, leewayMs: 500, deviceCredentials: [{ tenant_id: 'local', secret: SECRET }] },
    clock: hubClockOf(clock),
  });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => hub.close());
  // Each `auth_refresh_ack` from the hub reaches the auth actor as `token.accepted`.
  let accepted = 0;
  const connector = createConnector(
    { url, credential: SECRET, deviceId: 'dev-1', seed: 5, ...config },
    { clock, inspect: (e) => void (e.type === '@xstate.event' && e.event.type === 'token.accepted' && accepted++) },
  );
  cleanups.push(async () => {
    const stopped = connector.stop();
    clock.increment(2_000);
    await stopped;
  });
  connector.start();
  return { clock, hub, connector, accepted: () => accepted };
}

const connected = (c: Connector) => c.waitFor((s) => s.connection.state === 'connected');

describe('auth against the real hub', () => {
  it('keeps one session open for 20 s of 2-second tokens: every refresh in-band, no reconnect', async () => {
    const { clock, hub, connector, accepted } = await setup(2_000);
    const first = await connected(connector);
    let refreshes = 0;
    let expiresAt = first.auth.expiresAt!;
    const start = clock.now();
    while (clock.now() - start < 20_000) {
      clock.increment(100);
      // A refresh is an HTTP round trip to the hub: wait for it, never for time.
      if (connector.status.auth.state === 'refreshing') {
        const before = accepted();
        const fresh = await connector.waitFor((s) => s.auth.state === 'valid' && s.auth.expiresAt !== expiresAt);
        expiresAt = fresh.auth.expiresAt!;
        // …and its way to the hub in-band, answered with auth_refresh_ack.
        // (or the session went: then the assertion below says so instead of a timeout)
        await new Promise<void>((resolve) => {
          const check = () => (accepted() > before || connector.status.connection.state !== 'connected' ? resolve() : setImmediate(check));
          check();
        });
        refreshes++;
      }
      expect(connector.status.connection).toMatchObject({ state: 'connected', sessionId: first.connection.sessionId });
    }
    expect(refreshes).toBeGreaterThanOrEqual(10);
    expect(hub.devices()).toEqual([expect.objectContaining({ session_id: first.connection.sessionId })]);
  });

  it('cuts off a revoked device: the session closes with 4007 and no new token is issued', async () => {
    const { clock, hub, connector } = await setup(60_000);
    await connected(connector);
    const closed = new Promise<number>((resolve) => hub.once('session_close', (_s, code) => resolve(code)));
    expect(hub.revokeDevice('dev-1')).toBe(1);
    expect(await closed).toBe(4007);
    const failed = await connector.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection).toMatchObject({ reason: 'revoked', lastClose: { code: 4007, reason: expect.any(String) } });
    clock.increment(600_000);
    expect(connector.status.connection.state).toBe('failed');
    expect(hub.devices()).toEqual([]);
  });

  it('gets a fresh token after the hub closes a session whose token expired (4002)', async () => {
    const { clock, hub, connector } = await setup(4_000, { authPolicy: { refreshAt: 0.99, refreshJitter: 0 } });
    const first = await connected(connector);
    // The refresh is due at 99 % of the lifetime; the hub's 500 ms leeway ends first if the
    // refresh is held up: hold the token endpoint, and the hub must close the session.
    hub.faults.tokenEndpoint('hang');
    clock.increment(4_600);
    const lost = await connector.waitFor((s) => s.connection.state === 'disconnected');
    expect(lost.connection).toMatchObject({ reason: 'token_expired', lastClose: { code: 4002, reason: expect.any(String) } });
    hub.faults.tokenEndpoint('ok'); // the held refresh is answered now
    clock.increment(lost.connection.retryInMs!);
    const again = await connected(connector);
    expect(again.connection.sessionId).not.toBe(first.connection.sessionId);
  });

  it('refuses a token it did not sign, once and then for good', async () => {
    const { clock } = await setup(60_000);
    const forged = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'dev-1', tenant: 'local', exp: Math.floor(clock.now() / 1000) + 600 })).toString('base64url')}.`;
    const hub2 = createHub({ tokens: { deviceCredentials: [{ tenant_id: 'local', secret: SECRET }] } });
    const { url } = await hub2.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => hub2.close());
    const connector = createConnector({ url, token: forged, deviceId: 'dev-1', seed: 1 }, { clock });
    cleanups.push(async () => {
      const stopped = connector.stop();
      clock.increment(2_000);
      await stopped;
    });
    connector.start();
    const first = await connector.waitFor((s) => s.connection.state === 'disconnected');
    expect(first.connection).toMatchObject({ reason: 'auth_failed', lastClose: { code: 4001, reason: expect.any(String) } });
    clock.increment(first.connection.retryInMs!);
    const failed = await connector.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection.reason).toBe('rejected_by_hub');
    expect(hub2.devices()).toEqual([]);
  });
});
