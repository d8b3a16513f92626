import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, connect as connectTcp, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { settle } from '../support/execution-fixture.ts';
import { type FaultProxy, isLoopback, type ProxyTarget, startFaultProxy } from '../support/fault-proxy.ts';
import { startHub, until } from '../support/loopback.ts';
import { onEvents, waitUntil } from '../support/wait-until.ts';

/** A `ws` echo server on loopback that prefixes each echo with `tag`, and counts what it received. */
async function startEcho(tag = '') {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const received: string[] = [];
  const serverCloses: number[] = [];
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      received.push(String(data));
      socket.send(`${tag}${String(data)}`);
    });
    socket.on('close', (code) => serverCloses.push(code));
  });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const client of server.clients) client.terminate();
      server.close(() => resolve());
    });
  onTestFinished(close);
  return { port: (server.address() as AddressInfo).port, received, serverCloses, close };
}

async function proxyTo(target: ProxyTarget, restartHub?: () => Promise<ProxyTarget | void>): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ target, ...(restartHub && { restartHub }) });
  onTestFinished(() => proxy.close());
  return proxy;
}

/** A ws client through the proxy, with what it received and how it closed. */
async function client(proxy: FaultProxy) {
  const socket = new WebSocket(proxy.url('/'));
  const received: string[] = [];
  const closed: number[] = [];
  socket.on('message', (data) => received.push(String(data)));
  socket.on('close', (code) => closed.push(code));
  socket.on('error', () => {});
  onTestFinished(() => socket.terminate());
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  /** Resolves once `n` messages came (the proxy may hold them for a while: real time, not turns). */
  const got = (n: number) => waitUntil(() => received.length >= n, [onEvents(socket, 'message')], { what: `${n} messages` });
  /** Resolves once the socket closed. */
  const gone = () => waitUntil(() => closed.length > 0, [onEvents(socket, 'close')], { what: 'the close' });
  return { socket, received, closed, got, gone };
}

describe('the fault proxy', () => {
  it('forwards both ways and counts connections and bytes', async () => {
    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port });
    const c = await client(proxy);
    c.socket.send('hello');
    await c.got(1);
    expect(c.received).toEqual(['hello']);
    expect(proxy.counters.accepted).toBe(1);
    expect(proxy.open).toBe(1);
    // The upgrade request and a masked frame up; the upgrade answer and a frame down.
    expect(proxy.counters.bytes.up).toBeGreaterThan(5);
    expect(proxy.counters.bytes.down).toBeGreaterThan(5);
    expect(proxy.counters.faults).toEqual({ cut: 0, stall: 0, delay: 0, throttle: 0, split: 0, restart: 0 });
  });

  it('split: writes every chunk in pieces the peer reads apart, and frames of 1-byte writes still arrive intact', async () => {
    // A raw TCP peer, to count its reads.
    const reads: Buffer[] = [];
    const readEvents = new EventEmitter();
    const raw = createServer((socket) => {
      socket.on('data', (chunk) => {
        reads.push(chunk);
        readEvents.emit('read');
      });
      socket.on('error', () => {}); // reset when the test ends
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', () => resolve()));
    onTestFinished(() => new Promise<void>((resolve) => raw.close(() => resolve())));
    const rawProxy = await proxyTo({ port: (raw.address() as AddressInfo).port });
    rawProxy.split(true);
    const sent = Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256));
    const socket: Socket = connectTcp(rawProxy.port, '127.0.0.1');
    onTestFinished(() => void socket.destroy());
    socket.write(sent);
    await waitUntil(() => Buffer.concat(reads).length === sent.length, [onEvents(readEvents, 'read')], { what: 'all 300 bytes' });
    expect(Buffer.concat(reads)).toEqual(sent);
    // Pieces of 1–7 bytes, one per turn: far more reads than the one write.
    expect(reads.length).toBeGreaterThan(300 / 7 / 2);
    expect(Math.max(...reads.map((r) => r.length))).toBeLessThan(300);

    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port });
    const c = await client(proxy);
    proxy.split(true, { min: 1, max: 1 });
    const messages = Array.from({ length: 10 }, (_, i) => `message ${i} ${'x'.repeat(i * 50)}`);
    for (const message of messages) c.socket.send(message);
    await c.got(messages.length);
    expect(echo.received).toEqual(messages);
    expect(c.received).toEqual(messages);
    expect(proxy.counters.faults.split).toBe(1);
  });

  it('stall: holds every byte, closes nothing, accepts and holds new connections; the bytes flow in order once lifted', async () => {
    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port });
    const c = await client(proxy);
    const before = { ...proxy.counters.bytes };
    proxy.stall(true);
    c.socket.send('one');
    c.socket.send('two');
    await until(() => proxy.held > 0);
    // A new connection during the stall is accepted, and its upgrade request held too.
    const late = new WebSocket(proxy.url('/'));
    late.on('error', () => {});
    onTestFinished(() => late.terminate());
    await until(() => proxy.counters.accepted === 2 && proxy.held > 10);
    await settle(50);
    expect(echo.received).toEqual([]);
    expect(proxy.counters.bytes).toEqual(before);
    expect(c.socket.readyState).toBe(WebSocket.OPEN);
    expect(late.readyState).toBe(WebSocket.CONNECTING);
    expect(c.closed).toEqual([]);

    proxy.stall(false);
    await c.got(2);
    await waitUntil(() => late.readyState === WebSocket.OPEN, [onEvents(late, 'open')], { what: 'the late connection to open' });
    expect(c.received).toEqual(['one', 'two']);
    expect(proxy.counters.faults.stall).toBe(1);
  });

  it('cut: resets every connection both ways, so the client sees 1006 and no close frame', async () => {
    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port });
    const [a, b] = [await client(proxy), await client(proxy)];
    proxy.cut();
    await Promise.all([a.gone(), b.gone()]);
    await until(() => echo.serverCloses.length === 2);
    expect([...a.closed, ...b.closed]).toEqual([1006, 1006]);
    expect(echo.serverCloses).toEqual([1006, 1006]);
    expect(proxy.open).toBe(0);
    // Later connections go through.
    const c = await client(proxy);
    c.socket.send('after');
    await c.got(1);
    expect(proxy.counters.faults.cut).toBe(1);
  });

  it('delay: holds each chunk in the proxy before forwarding it, in order', async () => {
    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port });
    const c = await client(proxy);
    proxy.delay(200);
    const messages = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const message of messages) c.socket.send(message);
    await until(() => proxy.held > 0);
    expect(c.received).toEqual([]);
    await c.got(messages.length);
    expect(c.received).toEqual(messages);
    proxy.delay(0);
    expect(proxy.counters.faults.delay).toBe(1);
  });

  it('throttle: holds what exceeds the rate and delivers it all, intact and in order', async () => {
    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port });
    const c = await client(proxy);
    proxy.throttle(20_000);
    const messages = Array.from({ length: 5 }, (_, i) => `${i}`.repeat(1_000));
    for (const message of messages) c.socket.send(message);
    // 5 kB at 1 kB a slice: most of it waits in the proxy.
    await until(() => proxy.held > 2_000);
    await c.got(messages.length);
    expect(c.received).toEqual(messages);
    proxy.throttle(0);
    expect(proxy.counters.faults.throttle).toBe(1);
  });

  it('restartHub: resets the connections, runs the restart, and forwards new connections to where the hub came back', async () => {
    const first = await startEcho('A:');
    let second: Awaited<ReturnType<typeof startEcho>> | undefined;
    const proxy = await proxyTo({ port: first.port }, async () => {
      await first.close();
      second = await startEcho('B:');
      return { port: second.port };
    });
    const before = await client(proxy);
    before.socket.send('x');
    await before.got(1);
    expect(before.received).toEqual(['A:x']);
    await proxy.restartHub();
    await before.gone();
    expect(before.closed).toEqual([1006]);
    const after = await client(proxy);
    after.socket.send('y');
    await after.got(1);
    expect(after.received).toEqual(['B:y']);
    expect(second!.received).toEqual(['y']);
    expect(proxy.counters.faults.restart).toBe(1);

    const plain = await proxyTo({ port: first.port });
    await expect(plain.restartHub()).rejects.toThrow('without restartHub');
  });

  it('restartHub against the real hub, restarted in place: it answers again behind the same proxy port', async () => {
    const { hub, port } = await startHub();
    const proxy = await proxyTo({ port }, () => hub.restart({ downMs: 0 }));
    const health = async () => (await fetch(`http://127.0.0.1:${proxy.port}/healthz`, { headers: { connection: 'close' } })).status;
    expect(await health()).toBe(200);
    await proxy.restartHub();
    expect(await health()).toBe(200);
    expect(proxy.counters.faults.restart).toBe(1);
  });

  it('refuses a target that is not loopback, at start and after a restart', async () => {
    expect(isLoopback('127.0.0.1') && isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost')).toBe(true);
    expect(isLoopback('10.0.0.1') || isLoopback('example.com') || isLoopback('0.0.0.0')).toBe(false);
    await expect(startFaultProxy({ target: { host: '10.0.0.1', port: 80 } })).rejects.toThrow('loopback only, not 10.0.0.1');
    await expect(startFaultProxy({ target: { host: 'example.com', port: 443 } })).rejects.toThrow('loopback only');
    const echo = await startEcho();
    const proxy = await proxyTo({ port: echo.port }, async () => ({ host: '192.168.1.10', port: 80 }));
    await expect(proxy.restartHub()).rejects.toThrow('loopback only, not 192.168.1.10');
  });

  it('leaves no handle behind once closed, timers included', async () => {
    // A peer that keeps its side open after a FIN.
    const peerSockets: Socket[] = [];
    const peer = createServer({ allowHalfOpen: true }, (socket) => {
      peerSockets.push(socket);
      socket.on('error', () => {});
      socket.on('data', () => {});
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', () => resolve()));
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of peerSockets) socket.destroy();
          peer.close(() => resolve());
        }),
    );
    const count = () =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout').length;
    const baseline = count();
    const proxy = await startFaultProxy({ target: { port: (peer.address() as AddressInfo).port } });
    // A connection whose data and FIN wait behind a stall, then go out and are cut in the same
    // turn: libuv cannot reset a socket whose shutdown is under way, and node would then never
    // close its handle; the proxy destroys such a socket plainly.
    proxy.stall(true);
    const halfClosed = connectTcp(proxy.port, '127.0.0.1');
    halfClosed.on('error', () => {});
    halfClosed.end('last words');
    await until(() => proxy.held === 'last words'.length);
    await settle(20); // the FIN, sent with the data, is read too
    proxy.stall(false);
    for (let i = 0; i < 10; i++) await Promise.resolve(); // the pump forwards the data and the FIN…
    proxy.cut(); // …and the cut comes before libuv got to the shutdown
    // Another whose bytes wait on a minute's delay timer when the proxy closes.
    const held = connectTcp(proxy.port, '127.0.0.1');
    held.on('error', () => {});
    proxy.delay(60_000);
    held.write('held for a minute');
    await until(() => proxy.held > 0);
    await proxy.close();
    await until(() => count() <= baseline);
    expect(count()).toBeLessThanOrEqual(baseline);
    expect(proxy.open).toBe(0);
  });
});
