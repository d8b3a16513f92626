import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import { ConfigError } from '../../src/connector/config.ts';
import { type ConnectorEvent, createConnector } from '../../src/connector/connector.ts';
import { createMemoryStore } from '../../src/connector/remote-work.ts';
import { ExecutionRequestMessage } from '../../src/protocol/messages.ts';
import { createLogger } from '../../src/log/logger.ts';
import { FrameError } from '../../src/protocol/codec.ts';
import { flush } from '../support/harness.ts';
import { frame } from '../support/frames.ts';
import { until } from '../support/loopback.ts';

const ack = frame({
  type: 'connect_ack',
  session_id: 'sess-1',
  heartbeat_interval_ms: 1_000,
  heartbeat_timeout_ms: 500,
  server_time: 0,
  max_frame_bytes: 1 << 20,
});

function fixture(
  config: Parameters<typeof createConnector>[0] = {
    url: 'ws://hub.test/v1/connect',
    token: 'sekret-token-value',
    deviceId: 'dev-1',
    seed: 1,
  },
) {
  const clock = new SimulatedClock();
  const net = createMemoryNetwork();
  net.onConnection = (peer) => {
    peer.accept();
    peer.send(ack);
  };
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  const logger = createLogger({ level: 'debug', destination });
  const connector = createConnector(config, { socket: net.adapter, clock, logger });
  const events: ConnectorEvent[] = [];
  connector.events$.subscribe((e) => events.push(e));
  return { clock, net, connector, events, lines };
}

describe('createConnector', () => {
  it('reports standalone and does nothing that can fail without a URL', async () => {
    const { connector, net, clock } = fixture({});
    connector.start();
    clock.increment(3_600_000);
    expect(connector.status.connection).toMatchObject({ state: 'standalone', reason: 'no_url' });
    expect(net.peers).toHaveLength(0);
    expect(connector.send({ type: 'heartbeat', seq: 1 })).toBe(false);
    await connector.stop();
    expect(connector.status.supervisor.state).toBe('stopped');
  });

  it('publishes a typed status and one state event per change, with reasons', async () => {
    const { connector, events } = fixture();
    const seen: string[] = [];
    connector.state$.subscribe((s) => seen.push(s.connection.state));
    expect(connector.status.connection.state).toBe('initialized');
    connector.start();
    const connected = await connector.waitFor((s) => s.connection.state === 'connected');
    expect(connected.connection).toMatchObject({ reason: 'handshake_complete', sessionId: 'sess-1' });
    expect(connected.heartbeat.state).toBe('waiting');
    expect(seen).toEqual(expect.arrayContaining(['initialized', 'connecting', 'connected']));
    const changes = events
      .filter((e) => e.type === 'state' && e.actor === 'connection')
      .map((e) => e.type === 'state' && [e.state, e.reason]);
    expect(changes).toEqual([
      ['connecting', 'host_connect'],
      ['connected', 'handshake_complete'],
    ]);
    await connector.stop();
  });

  it('sends valid messages when connected, refuses when not, and throws a typed error on invalid ones', async () => {
    const { connector, net } = fixture();
    expect(connector.send({ type: 'heartbeat', seq: 1 })).toBe(false);
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    const sent = connector.send({ type: 'usage_report', request_id: 'r1', executor_device_id: 'dev-1', metrics: { duration_ms: 12 } });
    expect(sent).toBe(true);
    expect(JSON.parse(net.latest()!.received.at(-1)!)).toMatchObject({ type: 'usage_report', request_id: 'r1' });
    expect(() =>
      connector.send({ type: 'usage_report', request_id: 'r1', executor_device_id: 'dev-1', metrics: { duration_ms: -1 } }),
    ).toThrow(FrameError);
    await connector.stop();
  });

  it('ends what a crash left running only once started, so a listener added after createConnector hears of every one', async () => {
    const clock = new SimulatedClock();
    const store = createMemoryStore(() => clock.now());
    // What a crashed process left in its journal.
    for (const id of ['left-1', 'left-2']) {
      await store.journal.append({
        request: ExecutionRequestMessage.parse({
          v: 1,
          id: `m-${id}`,
          ts: 0,
          type: 'execution_request',
          request_id: id,
          job_type: 'tool',
          tool_name: 'echo',
        }),
      });
    }
    const net = createMemoryNetwork();
    net.onConnection = (peer) => {
      peer.accept();
      peer.send(ack);
    };
    const connector = createConnector(
      { url: 'ws://hub.test/v1/connect', token: 't', deviceId: 'dev-1', seed: 1 },
      { socket: net.adapter, clock, store },
    );
    await flush();
    const ended: string[] = [];
    connector.on('execution_ended', (e) => ended.push(`${e.requestId}:${e.errorCode}`));
    expect(store.journal.pending()).toHaveLength(2);
    connector.start();
    await until(() => store.journal.pending().length === 0);
    expect(ended).toEqual(['left-1:interrupted', 'left-2:interrupted']);
    await connector.stop();
  });

  it('delivers inbound messages to the host', async () => {
    const { connector, net } = fixture();
    const got: string[] = [];
    connector.on('message', ({ message }) => got.push(message.type));
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    net.latest()!.send(frame({ type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo', inputs: { a: 1 } }));
    expect(got).toEqual(['execution_request']);
    await connector.stop();
  });

  it('answers a frame the hub should never send with an error frame, and keeps it from the host', async () => {
    const { connector, net } = fixture();
    const got: string[] = [];
    connector.on('message', ({ message }) => got.push(message.type));
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    const wrongWay = frame({ type: 'heartbeat', seq: 9 });
    net.latest()!.send(wrongWay);
    expect(got).toEqual([]);
    const reply = JSON.parse(net.latest()!.received.at(-1)!);
    expect(reply).toMatchObject({ type: 'error', code: 'schema_violation', ref_id: JSON.parse(wrongWay).id });
    expect(reply.message).toContain('wrong direction');
    expect(connector.status.connection.state).toBe('connected');
    await connector.stop();
  });

  it('survives a host listener that throws, logs it, and still delivers to the others', async () => {
    const { connector, net, lines } = fixture();
    const got: string[] = [];
    connector.on('message', () => {
      throw new Error('host bug');
    });
    connector.on('message', ({ message }) => got.push(message.type));
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    net
      .latest()!
      .send(
        frame({ type: 'messaging_event', request_id: 'm1', channel: 'line', event_type: 'message', message: { text: 'x' }, user_id: 'u' }),
      );
    net
      .latest()!
      .send(
        frame({ type: 'messaging_event', request_id: 'm2', channel: 'line', event_type: 'message', message: { text: 'y' }, user_id: 'u' }),
      );
    expect(got).toEqual(['messaging_event', 'messaging_event']);
    expect(lines.some((l) => l.includes('event listener threw') && l.includes('host bug'))).toBe(true);
    expect(connector.status.connection.state).toBe('connected');
    await connector.stop();
  });

  it('stops gracefully: close 1000, status stopped, streams complete', async () => {
    const { connector, net } = fixture();
    let completed = false;
    connector.state$.subscribe({ complete: () => (completed = true) });
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    await connector.stop();
    expect(net.latest()!.closedWith).toMatchObject({ code: 1000, by: 'client' });
    expect(net.live()).toBe(0);
    expect(connector.status.supervisor.state).toBe('stopped');
    expect(completed).toBe(true);
    await connector.stop(); // idempotent
  });

  it('stops while the hub is unreachable without waiting for a retry', async () => {
    const { connector, net } = fixture();
    net.onConnection = (peer) => peer.refuse();
    connector.start();
    await flush();
    expect(connector.status.connection.state).toBe('disconnected');
    await connector.stop();
    expect(net.live()).toBe(0);
  });

  it('refuses an invalid configuration with a typed error that names fields, not values', () => {
    expect(() => createConnector({ url: 'http://not-a-ws-url', token: 'x' })).toThrow(ConfigError);
    try {
      createConnector({ url: 'ws://h/v1/connect' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['token']);
    }
    try {
      createConnector({ url: 'ws://h', token: 'sekret-token-value', connectTimeoutMs: -5 });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('connectTimeoutMs');
      expect((error as Error).message).not.toContain('sekret-token-value');
    }
  });

  it('never writes the token to the log, even at debug level', async () => {
    const { connector, lines } = fixture();
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    await connector.stop();
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.join('\n')).not.toContain('sekret-token-value');
    const parsed = lines.map((l) => JSON.parse(l));
    expect(new Set(parsed.map((l) => l.actor))).toEqual(
      new Set(['connector', 'auth', 'connection', 'heartbeat', 'supervisor', 'settings']),
    );
    // Each line names one actor once (a child logger per actor, no duplicate keys).
    for (const line of lines) expect(line.match(/"actor":/g)).toHaveLength(1);
    expect(parsed.find((l) => l.actor === 'connection' && l.state === 'connected')).toMatchObject({
      reason: 'handshake_complete',
      msg: 'state',
    });
  });
});
