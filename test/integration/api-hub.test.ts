import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { fetchHttpAdapter } from '../../src/adapters/fetch-http.ts';
import type { HttpAdapter } from '../../src/adapters/http.ts';
import { ApiError } from '../../src/api/api-error.ts';
import { ApiClient, apiKeyCredentials } from '../../src/api/client.ts';
import { grantOf } from '../../src/machines/auth.ts';
import { createConnector, type ConnectorOptions } from '../../src/connector/connector.ts';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { createHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { until, hubClockOf } from '../support/loopback.ts';

/*
 * The API client and the telemetry client against the real hub over loopback. Hub and client
 * share one SimulatedClock where time matters (rate limits), so nothing sleeps.
 */

const SECRET = 'enrollment-secret-for-api-tests';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startHub(clock: SimulatedClock, options: Partial<HubOptions> = {}): Promise<{ hub: Hub; url: string; origin: string }> {
  const hub = createHub({
    heartbeatIntervalMs: 600_000,
    heartbeatTimeoutMs: 600_000,
    tokens: { lifetimeMs: 600_000, deviceCredentials: [{ tenant_id: 'acme', secret: SECRET }] },
    clock: hubClockOf(clock),
    ...options,
  });
  const { url, port } = await hub.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => hub.close());
  return { hub, url, origin: `http://127.0.0.1:${port}` };
}

/** A device-mode connector of tenant `acme` on the shared clock, connected; stopped after the test. */
async function connectedDevice(
  url: string,
  clock: SimulatedClock,
  config: Partial<ConnectorConfigInput> = {},
  options: Partial<ConnectorOptions> = {},
) {
  const connector = createConnector(
    { url, credential: SECRET, deviceId: 'dev-1', tenantId: 'acme', seed: 3, ...config },
    { clock, ...options },
  );
  cleanups.push(async () => {
    const stopped = connector.stop();
    clock.increment(5_000);
    await stopped;
  });
  connector.start();
  await connector.waitFor((s) => s.connection.state === 'connected');
  return connector;
}

/** The real fetch adapter, counting requests by path. */
function countingHttp(): HttpAdapter & { count: (path: string) => number } {
  const counts = new Map<string, number>();
  return {
    request(request) {
      const path = new URL(request.url).pathname;
      counts.set(path, (counts.get(path) ?? 0) + 1);
      return fetchHttpAdapter.request(request);
    },
    count: (path) => counts.get(path) ?? 0,
  };
}

describe('the API client against the real hub', () => {
  it('answers an expired token with one refresh through the auth machine, shared by concurrent requests, then retries', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { url } = await startHub(clock);
    const http = countingHttp();
    const connector = await connectedDevice(url, clock, {}, { http });
    expect(await connector.api.whoami()).toMatchObject({ kind: 'device', tenant_id: 'acme', device_id: 'dev-1' });
    const grant = () => grantOf(connector.actor.system.get('auth')!.getSnapshot())!;
    const before = grant().token;
    const fetched = http.count('/v1/device-token');

    // No session, so no proactive refresh: the token runs out while the host makes API calls.
    connector.actor.send({ type: 'disconnect' });
    await connector.waitFor((s) => s.connection.state === 'closed');
    clock.increment(600_000 + 60_000);
    const answers = await Promise.all(Array.from({ length: 5 }, () => connector.api.whoami()));
    expect(answers.every((a) => a.device_id === 'dev-1')).toBe(true);
    expect(grant().token).not.toBe(before);
    // One new token for all five 401s: never a second refresh chain.
    expect(http.count('/v1/device-token') - fetched).toBe(1);
    expect(connector.status.auth.state).toBe('valid');
  });

  it('holds a request made while the refresh is out until the new token is there', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { url } = await startHub(clock);
    let release: () => void = () => {};
    let held = false;
    const http: HttpAdapter = {
      async request(request) {
        if (held && new URL(request.url).pathname === '/v1/device-token') await new Promise<void>((resolve) => (release = resolve));
        return fetchHttpAdapter.request(request);
      },
    };
    const connector = await connectedDevice(url, clock, {}, { http });
    connector.actor.send({ type: 'disconnect' });
    await connector.waitFor((s) => s.connection.state === 'closed');
    clock.increment(660_000);
    held = true;
    const first = connector.api.whoami();
    await until(() => connector.status.auth.state === 'refreshing');
    // The old token is gone, the new one not there yet: this one waits instead of failing.
    const second = connector.api.whoami();
    release();
    expect((await Promise.all([first, second])).map((a) => a.device_id)).toEqual(['dev-1', 'dev-1']);
  });

  it('keeps within the hub budget under a burst, where a client without its limiter is refused', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const limit = { burst: 5, per_second: 5 };
    const { hub, origin } = await startHub(clock, { apiRateLimit: limit });
    const key = hub.api.createApiKey('acme', { name: 'burst', permissions: ['usage:read'] }).secret;
    const client = (rateLimit: typeof limit) =>
      new ApiClient({ http: fetchHttpAdapter, origin, credentials: apiKeyCredentials(key), clock, rateLimit, retry: { attempts: 1 } });
    const burst = async (api: ApiClient, n: number) => {
      const outcomes: Array<'ok' | string> = [];
      const calls = Array.from({ length: n }, () =>
        api.limits().then(
          () => outcomes.push('ok'),
          (error: ApiError) => outcomes.push(error.kind),
        ),
      );
      await until(
        () => outcomes.length === n,
        () => clock.increment(20),
      );
      await Promise.all(calls);
      return outcomes;
    };
    const limited = client(limit);
    const outcomes = await burst(limited, 30);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual([]);
    expect(limited.sent).toBe(30);

    clock.increment(10_000); // the hub's bucket is full again
    const unlimited = await burst(client({ burst: 1_000, per_second: 1_000 }), 30);
    expect(unlimited.filter((o) => o === 'rate_limited').length).toBeGreaterThan(0);
  });

  it('creates, rotates and revokes API keys; an old secret and a revoked key stop working at once', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, origin } = await startHub(clock);
    const admin = new ApiClient({
      http: fetchHttpAdapter,
      origin,
      credentials: apiKeyCredentials(
        hub.api.createApiKey('acme', { name: 'admin', permissions: ['api_keys:manage', 'usage:read'] }).secret,
      ),
      clock,
    });
    const created = await admin.createApiKey({ name: 'ci', permissions: ['usage:read'] });
    expect((await admin.listApiKeys()).map((k) => [k.name, 'secret' in k])).toEqual([
      ['admin', false],
      ['ci', false],
    ]);
    const as = (secret: string) =>
      new ApiClient({ http: fetchHttpAdapter, origin, credentials: apiKeyCredentials(secret), clock, retry: { attempts: 1 } });
    expect(await as(created.secret).usage()).toMatchObject({ tenant_id: 'acme' });
    const rotated = await admin.rotateApiKey(created.id);
    await expect(as(created.secret).usage()).rejects.toMatchObject({ kind: 'authentication', detail: { status: 401 } });
    expect(await as(rotated.secret).whoami()).toMatchObject({ kind: 'api_key', api_key_id: created.id, permissions: ['usage:read'] });
    await expect(as(rotated.secret).createShare({ resource: { type: 'task', id: 't' }, visibility: 'organization' })).rejects.toMatchObject(
      { kind: 'forbidden' },
    );
    await admin.revokeApiKey(created.id);
    await expect(as(rotated.secret).whoami()).rejects.toMatchObject({ kind: 'authentication' });
    // Another tenant's key sees none of it.
    const other = as(hub.api.createApiKey('globex', { name: 'x', permissions: ['api_keys:manage'] }).secret);
    await expect(other.revokeApiKey(created.id)).rejects.toMatchObject({ kind: 'not_found' });
  });
});

describe('API errors from the real hub', () => {
  it('classifies what the hub refuses: authentication, forbidden, not_found, conflict, invalid_request, rate_limited', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, origin } = await startHub(clock, { apiRateLimit: { burst: 2, per_second: 1 } });
    const as = (secret: string, budget = { burst: 100, per_second: 100 }) =>
      new ApiClient({
        http: fetchHttpAdapter,
        origin,
        credentials: apiKeyCredentials(secret),
        clock,
        rateLimit: budget,
        retry: { attempts: 1 },
      });
    const key = hub.api.createApiKey('acme', { name: 'k', permissions: ['api_keys:manage', 'shares:write'] });
    const failure = (call: Promise<unknown>) =>
      call.then(
        () => undefined,
        (error: ApiError) => ({ kind: error.kind, status: error.status, code: error.detail.code }),
      );
    expect(await failure(as('ctk_0000000000000000_nope').whoami())).toEqual({ kind: 'authentication', status: 401, code: 'unauthorized' });
    clock.increment(5_000);
    expect(await failure(as(key.secret).usage())).toEqual({ kind: 'forbidden', status: 403, code: 'forbidden' });
    clock.increment(5_000);
    expect(await failure(as(key.secret).getShare('shr_unknown'))).toEqual({ kind: 'not_found', status: 404, code: 'not_found' });
    clock.increment(5_000);
    const doomed = hub.api.createApiKey('acme', { name: 'doomed', permissions: ['shares:write'] });
    hub.api.revokeApiKey('acme', doomed.id);
    expect(await failure(as(key.secret).rotateApiKey(doomed.id))).toEqual({ kind: 'conflict', status: 409, code: 'key_revoked' });
    clock.increment(5_000);
    hub.openTask('acme', 't1');
    expect(
      await failure(
        as(key.secret).createShare({ resource: { type: 'task', id: 't1' }, visibility: 'organization', expires_in_s: 364 * 86_400 }),
      ),
    ).toEqual({
      kind: 'invalid_request',
      status: 400,
      code: 'expiry_too_long',
    });
    // Past the hub's budget of 2 (this client's own limiter set far above it).
    const outcomes = await Promise.all([1, 2, 3].map(() => failure(as(key.secret).whoami())));
    expect(outcomes.find((o) => o !== undefined)).toEqual({ kind: 'rate_limited', status: 429, code: 'rate_limited' });
  });
});

describe('telemetry to the real hub', () => {
  it('sends nothing without consent; with it, the host and runtime events arrive redacted, in batches', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock);
    const connector = await connectedDevice(url, clock, { telemetry: { batchSize: 10, flushIntervalMs: 5_000 } });
    expect(connector.telemetry.track('task.completed', { n: 1 })).toBe(false);
    connector.telemetry.setConsent(true);
    connector.telemetry.track('task.completed', {
      duration_ms: 1834,
      file: `${process.env.HOME ?? '/root'}/work/a.ts`,
      auth: 'Bearer abc',
    });
    hub.faults.dropDevice('dev-1');
    await connector.waitFor((s) => s.connection.state !== 'connected');
    await until(
      () => connector.status.connection.state === 'connected',
      () => clock.increment(500),
    );
    // The first batch goes on its timer; the rest on demand.
    await until(
      async () => (await hub.api.telemetry('acme')).events.length > 0,
      () => clock.increment(1_000),
    );
    await connector.telemetry.flush();
    const events = (await hub.api.telemetry('acme')).events;
    expect(events.find((e) => e.event === 'task.completed')?.properties).toEqual({
      duration_ms: 1834,
      file: '~/work/a.ts',
      auth: '[redacted]',
    });
    expect(events.filter((e) => e.event === 'connection.state_changed').map((e) => e.properties.state)).toContain('disconnected');
    expect(connector.telemetry.stats).toMatchObject({ queued: 0, dropped: { full: 0, rejected: 0 } });
  });
});
