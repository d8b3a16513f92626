import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';
import { createStatelyInspector } from '../../src/inspection-events/stately.ts';
import { LOOPBACK_TOKEN, startConnector, startHub, until } from '../support/loopback.ts';

/*
 * The Stately inspector client: events converted by `@statelyai/inspect` itself, sent over a
 * socket we own to a relay on loopback that behaves as `createInspectorServer` does (it forwards
 * each message to the other clients; the package's server binds every interface, so the test
 * does not start it).
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startRelay() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => ws.on('message', (data) => wss.clients.forEach((c) => c !== ws && c.send(data.toString()))));
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  // The page's side of the relay.
  const viewer = new WebSocket(url);
  const received: string[] = [];
  viewer.on('message', (data) => received.push(data.toString()));
  await new Promise((resolve) => viewer.once('open', resolve));
  cleanups.push(() => viewer.close());
  return { url, wss, received };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the Stately inspector option', () => {
  it('sends the whole tree, sanitised, in the package’s own format, and lets go on stop()', async () => {
    const relay = await startRelay();
    const { url } = await startHub();
    const { connector } = startConnector(url, {}, new SimulatedClock(), { stately: { url: relay.url } });
    connector.start();
    await until(() => connector.status.connection.state === 'connected');
    await until(() => relay.received.some((m) => m.includes('"type":"@xstate.snapshot"') && m.includes('"connected"')));

    const events = relay.received.map((m) => JSON.parse(m) as { type: string; name?: string; _version?: string; sessionId: string });
    // The root was created before the client existed: it is announced all the same.
    expect(events.filter((e) => e.type === '@xstate.actor').map((e) => e.name)).toEqual(
      expect.arrayContaining(['supervisor', 'auth', 'connection', 'heartbeat']),
    );
    expect(events.every((e) => typeof e._version === 'string' && typeof e.sessionId === 'string')).toBe(true);
    expect(relay.received.join('\n')).not.toContain(LOOPBACK_TOKEN);

    const stopped = connector.stop();
    await stopped;
    await until(() => relay.wss.clients.size === 1); // only the viewer is left
  });

  it('retries while nothing listens, and stop() cancels the retry for good', async () => {
    const port = await freePort();
    const clock = new SimulatedClock();
    let opened = 0;
    const inspector = createStatelyInspector({
      url: `ws://127.0.0.1:${port}`,
      clock,
      openSocket: (where) => {
        opened++;
        return new WebSocket(where);
      },
    });
    await until(() => inspector.status === 'waiting');
    expect(opened).toBe(1);
    clock.increment(5_000);
    expect(opened).toBe(2);
    await until(() => inspector.status === 'waiting');
    inspector.stop();
    clock.increment(60_000);
    expect({ opened, status: inspector.status }).toEqual({ opened: 2, status: 'stopped' });
  });

  it('keeps the last maxBuffered events while nothing listens, and sends them once something does', async () => {
    const port = await freePort();
    const clock = new SimulatedClock();
    const inspector = createStatelyInspector({ url: `ws://127.0.0.1:${port}`, maxBuffered: 3, clock });
    cleanups.push(() => inspector.stop());
    await until(() => inspector.status === 'waiting');
    const actorRef = { id: 'a', sessionId: 'x:1' } as never;
    for (const n of [1, 2, 3, 4, 5])
      inspector.inspect({ type: '@xstate.event', actorRef, rootId: 'x:0', sourceRef: undefined, event: { type: `e${n}` } });
    await settleTimers();
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise((resolve) => wss.once('listening', resolve));
    cleanups.push(() => new Promise<void>((resolve) => (wss.clients.forEach((c) => c.terminate()), wss.close(() => resolve()))));
    const received: string[] = [];
    wss.on('connection', (ws) => ws.on('message', (data) => received.push(data.toString())));
    clock.increment(5_000);
    await until(() => received.length === 3);
    expect(received.map((m) => (JSON.parse(m) as { event: { type: string } }).event.type)).toEqual(['e3', 'e4', 'e5']);
  });
});

/** `@statelyai/inspect` converts each event in a `setTimeout(0)`: let those run. */
function settleTimers(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
