import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createConnector, type Connector } from '../../src/connector/connector.ts';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { createHub, type Hub } from '../../src/hub/index.ts';

const TOKEN = 'integration-token';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startHub(): Promise<{ hub: Hub; url: string; port: number }> {
  const hub = createHub({ staticToken: TOKEN });
  const { url, port } = await hub.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => hub.close());
  return { hub, url, port };
}

/** A real connector (ws adapter, real sockets) whose machine timers run on a SimulatedClock. */
function startConnector(url: string, config: Partial<ConnectorConfigInput> = {}) {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const connector = createConnector({ url, token: TOKEN, deviceId: 'dev-1', seed: 3, ...config }, { clock });
  cleanups.push(() => stopWith(connector, clock));
  connector.start();
  return { connector, clock };
}

/** Stops a connector whose clock may need to pass the close timeout. */
async function stopWith(connector: Connector, clock: SimulatedClock) {
  const stopped = connector.stop();
  clock.increment(2_000);
  await stopped;
}

const connected = (c: Connector) => c.waitFor((s) => s.connection.state === 'connected');

describe('connector and hub over loopback', () => {
  it('connect, then the hub lists the device over HTTP', async () => {
    const { hub, port } = await startHub();
    const { connector } = startConnector(`ws://127.0.0.1:${port}/v1/connect`);
    const status = await connected(connector);
    const [device] = hub.devices();
    expect(device).toMatchObject({ device_id: 'dev-1', tenant_id: 'local', session_id: status.connection.sessionId });
    const listed = (await (await fetch(`http://127.0.0.1:${port}/v1/devices`)).json()) as { devices: unknown[] };
    expect(listed.devices).toEqual([expect.objectContaining({ device_id: 'dev-1', session_id: status.connection.sessionId })]);
  });

  it('delivers a dispatched message and carries one back', async () => {
    const { hub, url } = await startHub();
    const { connector } = startConnector(url);
    await connected(connector);
    const received = new Promise((resolve) => connector.on('message', ({ message }) => resolve(message)));
    hub.dispatch('dev-1', { type: 'execution_request', request_id: 'r-1', job_type: 'tool', tool_name: 'echo', inputs: { text: 'hi' } });
    expect(await received).toMatchObject({ type: 'execution_request', request_id: 'r-1', tool_name: 'echo', inputs: { text: 'hi' } });
    const atHub = new Promise((resolve) => hub.once('message', (_session, message) => resolve(message)));
    connector.send({ type: 'execution_event', event_id: 'e-1', request_id: 'r-1', event_type: 'completed', data: { text: 'hi' } });
    expect(await atHub).toMatchObject({ type: 'execution_event', request_id: 'r-1', event_type: 'completed' });
  });

  it("refuses to send a frame over the hub's announced limit instead of losing the session", async () => {
    const hub = createHub({ staticToken: TOKEN, maxFrameBytes: 2_048 });
    const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => hub.close());
    const { connector } = startConnector(url);
    const up = await connected(connector);
    expect(up.connection.maxFrameBytes).toBe(2_048);
    const big = {
      type: 'execution_event',
      event_id: 'e',
      request_id: 'r',
      event_type: 'progress',
      data: { blob: 'x'.repeat(4_000) },
    } as const;
    expect(() => connector.send(big)).toThrow(expect.objectContaining({ code: 'too_large' }));
    expect(connector.send({ ...big, data: { blob: 'small' } })).toBe(true);
    expect(connector.status.connection).toMatchObject({ state: 'connected', sessionId: up.connection.sessionId });
  });

  it('survives a dropped socket: reconnects with a new session', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    const first = await connected(connector);
    clock.increment(30_000); // stable: the next retry is the first after a drop
    expect(hub.faults.dropDevice('dev-1')).toBe(true);
    const lost = await connector.waitFor((s) => s.connection.state === 'disconnected');
    // No close frame: the hub may have crashed under its whole fleet, so the retry is spread.
    expect(lost.connection).toMatchObject({ reason: 'connection_lost' });
    expect(lost.connection.retryInMs).toBeLessThan(5_000);
    clock.increment(lost.connection.retryInMs!);
    const second = await connected(connector);
    expect(second.connection.sessionId).not.toBe(first.connection.sessionId);
    expect(hub.devices().map((d) => d.session_id)).toEqual([second.connection.sessionId]);
  });

  it('finds a silent hub through heartbeats and reconnects once it answers again', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    const seen: string[] = [];
    connector.on('state', (e) => e.actor === 'connection' && seen.push(`${e.state}:${e.reason}`));
    await connected(connector);
    hub.faults.silence('dev-1', true);
    clock.increment(25_000); // heartbeat interval announced by the hub
    await connector.waitFor((s) => s.heartbeat.state === 'awaiting');
    clock.increment(10_000); // heartbeat timeout: the link is dead, and retried at once
    expect(seen).toContain('disconnected:heartbeat_timeout');
    expect(connector.status.connection).toMatchObject({ state: 'connecting', reason: 'retry' });
    // The hub is still silent for that attempt: it times out, then backs off.
    clock.increment(10_000);
    const timedOut = await connector.waitFor((s) => s.connection.state === 'disconnected');
    expect(timedOut.connection.reason).toBe('connect_timeout');
    hub.faults.silence('dev-1', false);
    clock.increment(timedOut.connection.retryInMs!);
    await connected(connector);
  });

  it('comes back after a hub restart on the same port, spread over the restart window', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    const before = await connected(connector);
    const restarted = hub.restart();
    const down = await connector.waitFor((s) => s.connection.state === 'disconnected');
    expect(down.connection.reason).toBe('server_restart');
    expect(down.connection.retryInMs).toBeLessThan(5_000);
    await restarted;
    clock.increment(down.connection.retryInMs!);
    const after = await connected(connector);
    expect(after.connection.sessionId).not.toBe(before.connection.sessionId);
    expect(hub.devices()).toHaveLength(1);
  });

  it('a second connection of the same device replaces the first, which stops instead of fighting', async () => {
    const { hub, url } = await startHub();
    const { connector: first, clock } = startConnector(url);
    await connected(first);
    const { connector: second } = startConnector(url);
    const secondUp = await connected(second);
    const failed = await first.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection).toMatchObject({ reason: 'replaced', lastClose: { code: 4003, reason: expect.any(String) } });
    clock.increment(600_000);
    expect(hub.devices()).toEqual([expect.objectContaining({ session_id: secondUp.connection.sessionId })]);
  });

  it('keeps tenants apart: the same device id in two tenants holds two sessions', async () => {
    const { hub, url } = await startHub();
    const { connector: a } = startConnector(url, { tenantId: 'acme' });
    const { connector: b } = startConnector(url, { tenantId: 'globex' });
    await Promise.all([connected(a), connected(b)]);
    expect(
      hub
        .devices()
        .map((d) => d.tenant_id)
        .sort(),
    ).toEqual(['acme', 'globex']);
    const got = new Promise((resolve) => b.on('message', ({ message }) => resolve(message)));
    hub.dispatch(
      'dev-1',
      { type: 'messaging_event', request_id: 'm-1', channel: 'line', event_type: 'message', message: { text: 'for globex' }, user_id: 'u' },
      { tenantId: 'globex' },
    );
    expect(await got).toMatchObject({ request_id: 'm-1' });
    expect(a.status.connection.state).toBe('connected');
  });

  it('refuses a wrong token: one more try, then failed with the reason, no retry loop', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url, { token: 'wrong-token' });
    const first = await connector.waitFor((s) => s.connection.state === 'disconnected');
    expect(first.connection).toMatchObject({ reason: 'auth_failed', lastClose: { code: 4001, reason: expect.any(String) } });
    expect(first.connection.hubError).toBeTruthy();
    clock.increment(first.connection.retryInMs!);
    const failed = await connector.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection.reason).toBe('rejected_by_hub');
    expect(failed.auth).toMatchObject({ state: 'unauthorized', reason: 'rejected_by_hub' });
    clock.increment(600_000);
    expect(connector.status.connection.state).toBe('failed');
    expect(hub.devices()).toEqual([]);
  });

  it('stops gracefully: the hub sees a normal close and forgets the device', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    await connected(connector);
    const startedAt = clock.now();
    const closed = new Promise<number>((resolve) => hub.once('session_close', (_s, code) => resolve(code)));
    // No clock advance: stop() must complete on the hub's close echo, not on its 2 s timeout.
    await connector.stop();
    expect(clock.now()).toBe(startedAt);
    expect(connector.status.connection.state).toBe('stopped');
    expect(await closed).toBe(1000);
    expect(hub.devices()).toEqual([]);
  });
});
