import { describe, expect, it } from 'vitest';
import { MAX_ERROR_BACKLOG_BYTES } from '../../src/actors/socket.ts';
import type { SocketAdapter, SocketConnection } from '../../src/adapters/socket.ts';
import { wsSocketAdapter } from '../../src/adapters/ws-socket.ts';
import { startFakeHub } from '../support/fake-hub.ts';
import { connected, startConnector, until } from '../support/loopback.ts';

/** The real socket adapter, keeping each connection it opens so the test can see its backlog. */
function observedAdapter(): { adapter: SocketAdapter; connections: SocketConnection[] } {
  const connections: SocketConnection[] = [];
  const adapter: SocketAdapter = {
    open(url, handlers, options) {
      const connection = wsSocketAdapter.open(url, handlers, options);
      connections.push(connection);
      return connection;
    },
  };
  return { adapter, connections };
}

describe('a hub that floods bad frames and reads nothing', () => {
  // The regression: the connector answered every bad frame with an `error` frame, so a hub that
  // sent them without reading grew the connector's send buffer (~170 bytes each) without end.
  it('stops being answered once 4 MiB of answers wait unsent; the session goes on', async () => {
    const hub = startFakeHub();
    const { adapter, connections } = observedAdapter();
    const { connector, events } = startConnector(await hub.url, {}, undefined, { socket: adapter });
    connector.start();
    await connected(connector);
    const socket = hub.state.current!;
    socket.ws.pause();

    // Loopback's kernel buffers hold ~10 MB of answers; 200,000 bad frames make ~35 MB of them.
    for (let i = 0; i < 200_000; i++) socket.ws.send('x');
    socket.ws.send(hub.frame('error', { code: 'internal', message: 'the last frame', ref_id: 'fence' }));
    // Every frame is handled in order: once the last one reached the host, so had the bad ones.
    await until(
      () => events.some((e) => e.type === 'message' && e.message.type === 'error' && e.message.ref_id === 'fence'),
      undefined,
      300_000,
    );

    expect(connections.at(-1)!.bufferedAmount).toBeLessThanOrEqual(MAX_ERROR_BACKLOG_BYTES + 1024);
    expect(connector.status.connection.state).toBe('connected');
    // Once the hub reads again, the connector answers again.
    socket.ws.resume();
    const answered = socket.frames.length;
    socket.ws.send('y');
    await until(() => socket.frames.slice(answered).some((f) => f.type === 'error' && f.code === 'not_json'), undefined, 300_000);
  });
});
