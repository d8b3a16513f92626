import { describe, expect, it } from 'vitest';
import { createConnector } from '../../src/index.ts';
import { createMemoryNetwork, SimulatedClock } from '../../src/testing/index.ts';

// The "Testing a host" example of docs/embedding.md, through the package's public entry points.
describe('docs/embedding.md testing example', () => {
  it('connects on a memory network and reconnects after a drop on a simulated clock', async () => {
    const clock = new SimulatedClock();
    const net = createMemoryNetwork();
    net.onConnection = (peer) => {
      peer.accept();
      peer.send(
        JSON.stringify({
          v: 1,
          id: 'a1',
          type: 'connect_ack',
          ts: 0,
          session_id: 's1',
          heartbeat_interval_ms: 25_000,
          heartbeat_timeout_ms: 10_000,
          server_time: 0,
          max_frame_bytes: 1048576,
        }),
      );
    };
    const connector = createConnector({ url: 'ws://hub.test/v1/connect', token: 't', seed: 1 }, { socket: net.adapter, clock });
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');

    net.latest()!.drop();
    expect(connector.status.connection.state).toBe('disconnected');
    clock.increment(connector.status.connection.retryInMs!);
    await connector.waitFor((s) => s.connection.state === 'connected');
    expect(net.peers).toHaveLength(2);
    const stopped = connector.stop();
    clock.increment(2_000);
    await stopped;
  });
});

describe('the public entry point', () => {
  it('exports what docs/embedding.md uses', async () => {
    const api = await import('../../src/index.ts');
    for (const name of [
      'createConnector',
      'connectorConfigFromEnv',
      'createLogger',
      'createFileStorage',
      'createSecretStore',
      'resolveDeviceIdentity',
      'parseStateKey',
    ] as const) {
      expect(typeof api[name], name).toBe('function');
    }
  });
});
