import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createMemoryNetwork, type MemoryPeer } from '../../src/adapters/memory-socket.ts';
import type { SocketConnection, SocketHandlers } from '../../src/adapters/socket.ts';
import { wsSocketAdapter } from '../../src/adapters/ws-socket.ts';

/*
 * One contract (src/adapters/socket.ts), two implementations. Each harness drives the far end
 * of a single client connection: the real one through a `ws` server on loopback whose opening
 * handshake the test completes by hand, the in-memory one through its `MemoryPeer`.
 */

// ─── test plumbing ──────────────────────────────────────────────────────────────────────

type SocketEvent =
  | { kind: 'open' }
  | { kind: 'message'; data: string | Buffer }
  | { kind: 'error'; error: Error }
  | { kind: 'close'; code: number; reason: string };

/** Handlers that record every call, with a way to await a condition on the record. */
class Recorder implements SocketHandlers {
  readonly events: SocketEvent[] = [];
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  onOpen = (): void => this.push({ kind: 'open' });
  onMessage = (data: string | Buffer): void => this.push({ kind: 'message', data });
  onError = (error: Error): void => this.push({ kind: 'error', error });
  onClose = (code: number, reason: string): void => this.push({ kind: 'close', code, reason });

  kinds(): string[] {
    return this.events.map((event) => event.kind);
  }

  messages(): Array<string | Buffer> {
    return this.events.flatMap((event) => (event.kind === 'message' ? [event.data] : []));
  }

  closes(): Array<{ code: number; reason: string }> {
    return this.events.flatMap((event) => (event.kind === 'close' ? [{ code: event.code, reason: event.reason }] : []));
  }

  /** Resolves once `test` holds (at once if it already does). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  opened(): Promise<void> {
    return this.until(() => this.kinds().includes('open'));
  }

  closed(): Promise<void> {
    return this.until(() => this.kinds().includes('close'));
  }

  private push(event: SocketEvent): void {
    this.events.push(event);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.test()) return true;
      waiter.resolve();
      return false;
    });
  }
}

/** An async FIFO: `next()` resolves with the oldest item, waiting for one if needed. */
class Queue<T> {
  readonly items: T[] = [];
  private waiters: Array<(item: T) => void> = [];
  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }
  next(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The far end of one client connection, plus a way to open that connection. */
interface Harness {
  /** Opens the client connection through the adapter under test. */
  open(handlers: SocketHandlers): SocketConnection;
  /** Opens a client connection that the far end refuses. */
  openRefused(handlers: SocketHandlers): SocketConnection;
  /** Resolves once the far end has seen the connection attempt (not yet accepted). */
  attempted(): Promise<void>;
  /** Completes the opening handshake. */
  accept(): Promise<void>;
  send(frame: string): void;
  closeFromPeer(code: number, reason: string): void;
  /** Ends the connection without a closing handshake. */
  drop(): void;
  /** The next frame the far end received from the client, in order. */
  nextReceived(): Promise<string>;
  /** Frames received and not yet taken by `nextReceived`. */
  unread(): string[];
  /** What the far end saw when the connection closed. */
  farEndClosed(): Promise<{ code: number; reason: string }>;
  /** Resolves once everything in flight has landed: after it, no handler may run any more. */
  settle(): Promise<void>;
  dispose(): Promise<void>;
}

async function listenOnLoopback(server: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function wsHarness(): Promise<Harness> {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const attempts = new Queue<{ req: IncomingMessage; socket: Socket; head: Buffer }>();
  // Upgrade sockets leave the HTTP server's books: track them to destroy them on dispose.
  const rawSockets = new Set<Socket>();
  http.on('upgrade', (req, socket: Socket, head: Buffer) => {
    rawSockets.add(socket);
    attempts.push({ req, socket, head });
  });
  const port = await listenOnLoopback(http);

  // A port nothing listens on: bound, noted, released.
  const probe = createServer();
  const refusedPort = await listenOnLoopback(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  let attempt: Promise<{ req: IncomingMessage; socket: Socket; head: Buffer }> | undefined;
  let serverSide: WebSocket | undefined;
  let serverClosed: Promise<{ code: number; reason: string }> | undefined;
  const received = new Queue<string>();

  const attempted = () => (attempt ??= attempts.next());

  const peer = (): WebSocket => {
    if (!serverSide) throw new Error('the far end has not accepted a connection');
    return serverSide;
  };

  return {
    open: (handlers) => wsSocketAdapter.open(`ws://127.0.0.1:${port}/v1/connect`, handlers),
    openRefused: (handlers) => wsSocketAdapter.open(`ws://127.0.0.1:${refusedPort}/v1/connect`, handlers),
    attempted: async () => {
      await attempted();
    },
    async accept() {
      const { req, socket, head } = await attempted();
      const accepted = await new Promise<WebSocket>((resolve) => wss.handleUpgrade(req, socket, head, resolve));
      accepted.on('message', (data: Buffer) => received.push(data.toString('utf8')));
      serverClosed = new Promise((resolve) =>
        accepted.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
      );
      serverSide = accepted;
    },
    send: (frame) => peer().send(frame),
    closeFromPeer: (code, reason) => peer().close(code, reason),
    drop: () => peer().terminate(),
    nextReceived: () => received.next(),
    unread: () => [...received.items],
    farEndClosed: () => {
      if (!serverClosed) throw new Error('the far end has not accepted a connection');
      return serverClosed;
    },
    async settle() {
      // Once the far end has seen the close, the client has nothing left to hear. A handshake
      // never completed leaves nothing in flight but the client's own abort.
      if (serverClosed) await serverClosed;
      await macrotask();
      await macrotask();
    },
    async dispose() {
      serverSide?.terminate();
      for (const socket of rawSockets) socket.destroy();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

async function memoryHarness(): Promise<Harness> {
  const net = createMemoryNetwork();
  let peer: MemoryPeer | undefined;
  let read = 0;
  const current = (): MemoryPeer => {
    if (!peer) throw new Error('no connection was opened');
    return peer;
  };
  const open = (handlers: SocketHandlers): SocketConnection => {
    const connection = net.adapter.open('ws://hub.test/v1/connect', handlers);
    peer = net.latest();
    return connection;
  };
  return {
    open,
    openRefused(handlers) {
      const connection = open(handlers);
      const refusing = current();
      queueMicrotask(() => refusing.refuse());
      return connection;
    },
    attempted: async () => {
      current();
    },
    accept: async () => current().accept(),
    send: (frame) => current().send(frame),
    closeFromPeer: (code, reason) => current().close(code, reason),
    drop: () => current().drop(),
    async nextReceived() {
      const frame = current().received[read];
      if (frame === undefined) throw new Error('the far end has received nothing more');
      read += 1;
      return frame;
    },
    unread: () => current().received.slice(read),
    async farEndClosed() {
      const closedWith = current().closedWith;
      if (!closedWith) throw new Error('the connection is not closed');
      return { code: closedWith.code, reason: closedWith.reason };
    },
    async settle() {
      await macrotask();
      await macrotask();
    },
    dispose: async () => {},
  };
}

// ─── the contract ───────────────────────────────────────────────────────────────────────

describe.each([
  { name: 'wsSocketAdapter', create: wsHarness },
  { name: 'memory network', create: memoryHarness },
])('SocketAdapter contract: $name', ({ create }) => {
  let far: Harness;
  let rec: Recorder;

  beforeEach(async () => {
    far = await create();
    rec = new Recorder();
  });

  afterEach(async () => {
    await far.dispose();
  });

  async function openAccepted(): Promise<SocketConnection> {
    const connection = far.open(rec);
    await far.accept();
    await rec.opened();
    return connection;
  }

  /**
   * Waits for onClose and for everything in flight, then checks the contract's last word:
   * one onClose, nothing after it, errors only before it.
   */
  async function closedOnce(): Promise<{ code: number; reason: string }> {
    await rec.closed();
    await far.settle();
    const kinds = rec.kinds();
    expect(kinds.filter((kind) => kind === 'close')).toHaveLength(1);
    expect(kinds.at(-1)).toBe('close');
    return rec.closes()[0] as { code: number; reason: string };
  }

  describe('opening', () => {
    it('calls onOpen only after the far end accepts, never from inside open()', async () => {
      far.open(rec);
      expect(rec.events).toEqual([]);
      await far.attempted();
      await macrotask();
      expect(rec.events).toEqual([]);
      await far.accept();
      await rec.opened();
      expect(rec.kinds()).toEqual(['open']);
    });

    it('reports a refused connection as onError then onClose(1006), never from inside open()', async () => {
      far.openRefused(rec);
      expect(rec.events).toEqual([]);
      expect(await closedOnce()).toEqual({ code: 1006, reason: '' });
      expect(rec.kinds()).toEqual(['error', 'close']);
      const [first] = rec.events;
      expect(first?.kind === 'error' && first.error).toBeInstanceOf(Error);
    });
  });

  describe('frames', () => {
    it('carries frames both ways, in order, as strings', async () => {
      const connection = await openAccepted();
      const outbound = Array.from({ length: 50 }, (_, i) => `{"seq":${i}}`);
      for (const frame of outbound) connection.send(frame);
      const seen: string[] = [];
      for (let i = 0; i < outbound.length; i += 1) seen.push(await far.nextReceived());
      expect(seen).toEqual(outbound);

      const inbound = Array.from({ length: 50 }, (_, i) => `{"ack":${i},"text":"héllo"}`);
      for (const frame of inbound) far.send(frame);
      await rec.until(() => rec.messages().length === inbound.length);
      expect(rec.messages()).toEqual(inbound);
    });

    it('drops frames sent before onOpen instead of queueing them', async () => {
      const connection = far.open(rec);
      connection.send('too early');
      await far.accept();
      await rec.opened();
      connection.send('after open');
      expect(await far.nextReceived()).toBe('after open');
    });

    it('ignores send() after close without throwing, and delivers nothing after onClose', async () => {
      const connection = await openAccepted();
      connection.close(1000, 'done');
      expect(() => connection.send('while closing')).not.toThrow();
      far.send('late from the far end');
      await rec.closed();
      expect(() => connection.send('after close')).not.toThrow();
      await closedOnce();
      expect(far.unread()).toEqual([]);
    });

    it('reports a number for bufferedAmount in every state', async () => {
      const connection = far.open(rec);
      expect(connection.bufferedAmount).toBeGreaterThanOrEqual(0);
      await far.accept();
      await rec.opened();
      connection.send('x');
      expect(connection.bufferedAmount).toBeGreaterThanOrEqual(0);
      connection.close();
      await closedOnce();
      expect(connection.bufferedAmount).toBeGreaterThanOrEqual(0);
    });
  });

  describe('closing: onClose exactly once, nothing after it', () => {
    it('client close(code, reason): both ends see that code and reason, no onError', async () => {
      const connection = await openAccepted();
      connection.close(1000, 'stopping');
      expect(await closedOnce()).toEqual({ code: 1000, reason: 'stopping' });
      expect(await far.farEndClosed()).toEqual({ code: 1000, reason: 'stopping' });
      expect(rec.kinds()).toEqual(['open', 'close']);
    });

    it('client close() without a code closes with 1000 (normal), not 1005', async () => {
      const connection = await openAccepted();
      connection.close();
      expect(await closedOnce()).toEqual({ code: 1000, reason: '' });
      expect((await far.farEndClosed()).code).toBe(1000);
    });

    it('client terminate(): onClose(1006), the far end sees 1006, no onError', async () => {
      const connection = await openAccepted();
      connection.terminate();
      expect((await closedOnce()).code).toBe(1006);
      expect((await far.farEndClosed()).code).toBe(1006);
      expect(rec.kinds()).toEqual(['open', 'close']);
    });

    it('far end closes with a code and reason: onClose carries them', async () => {
      await openAccepted();
      far.closeFromPeer(4003, 'replaced');
      expect(await closedOnce()).toEqual({ code: 4003, reason: 'replaced' });
      expect(rec.kinds()).toEqual(['open', 'close']);
    });

    it('far end drops the connection: onClose(1006)', async () => {
      await openAccepted();
      far.drop();
      expect((await closedOnce()).code).toBe(1006);
      expect(rec.kinds()[0]).toBe('open');
    });

    it('client close() right after open(): onClose(1006), no onOpen, no onError', async () => {
      const connection = far.open(rec);
      connection.close(1000, 'never mind');
      expect(rec.events).toEqual([]);
      expect(await closedOnce()).toEqual({ code: 1006, reason: expect.any(String) });
      expect(rec.kinds()).toEqual(['close']);
    });

    it('client close() while the far end holds the handshake: onClose(1006), no onOpen, no onError', async () => {
      const connection = far.open(rec);
      await far.attempted();
      connection.close();
      expect((await closedOnce()).code).toBe(1006);
      expect(rec.kinds()).toEqual(['close']);
    });

    it('client terminate() while connecting: onClose(1006), no onOpen, no onError', async () => {
      const connection = far.open(rec);
      await far.attempted();
      connection.terminate();
      expect((await closedOnce()).code).toBe(1006);
      expect(rec.kinds()).toEqual(['close']);
    });
  });

  describe('close() and terminate() are idempotent and safe in every state', () => {
    /** Everything a careless caller might do, twice over. */
    function hammer(connection: SocketConnection): void {
      expect(() => {
        connection.close();
        connection.close(4000, 'again');
        connection.terminate();
        connection.terminate();
        connection.close(1001, 'and again');
        connection.send('late');
      }).not.toThrow();
    }

    it('while connecting', async () => {
      const connection = far.open(rec);
      hammer(connection);
      expect((await closedOnce()).code).toBe(1006);
      expect(rec.kinds()).toEqual(['close']);
    });

    it('while open', async () => {
      const connection = await openAccepted();
      hammer(connection);
      await closedOnce();
      expect(rec.kinds()).toEqual(['open', 'close']);
    });

    it('while closing (after close(), before onClose)', async () => {
      const connection = await openAccepted();
      connection.close(4000, 'first');
      hammer(connection);
      const { code } = await closedOnce();
      // A terminate() during the closing handshake may cut it short.
      expect([4000, 1006]).toContain(code);
      expect(rec.kinds()).toEqual(['open', 'close']);
    });

    it('after the far end closed', async () => {
      const connection = await openAccepted();
      far.closeFromPeer(1001, 'going away');
      await closedOnce();
      hammer(connection);
      await far.settle();
      expect(rec.kinds()).toEqual(['open', 'close']);
      expect(rec.closes()).toEqual([{ code: 1001, reason: 'going away' }]);
    });

    it('after a refusal', async () => {
      const connection = far.openRefused(rec);
      await closedOnce();
      hammer(connection);
      await far.settle();
      expect(rec.kinds()).toEqual(['error', 'close']);
    });
  });

  describe('close() arguments a real socket cannot send', () => {
    it.each([
      ['code 1006', 1006, '', TypeError],
      ['code 1005', 1005, '', TypeError],
      ['code 2000', 2000, '', TypeError],
      ['code 5000', 5000, '', TypeError],
      ['a reason over 123 bytes', 1000, 'é'.repeat(62), RangeError],
    ])('throws on %s while open, and leaves the socket open', async (_name, code, reason, type) => {
      const connection = await openAccepted();
      expect(() => connection.close(code, reason)).toThrow(type);
      connection.send('still open');
      expect(await far.nextReceived()).toBe('still open');
      connection.close(1000, 'é'.repeat(61));
      expect(await closedOnce()).toEqual({ code: 1000, reason: 'é'.repeat(61) });
    });
  });
});

// ─── memory-only helpers ────────────────────────────────────────────────────────────────

describe('memory network helpers', () => {
  const handlers = (): SocketHandlers => new Recorder();

  it('calls onConnection in a microtask, not from inside open()', async () => {
    const net = createMemoryNetwork();
    const seen = vi.fn((peer: MemoryPeer) => peer.accept());
    net.onConnection = seen;
    const rec = new Recorder();
    net.adapter.open('ws://hub.test/a', rec);
    expect(seen).not.toHaveBeenCalled();
    expect(rec.events).toEqual([]);
    await Promise.resolve();
    expect(seen).toHaveBeenCalledWith(net.latest());
    expect(rec.kinds()).toEqual(['open']);
  });

  it('latest() is the newest connection, peers lists them all in order', () => {
    const net = createMemoryNetwork();
    expect(net.latest()).toBeUndefined();
    net.adapter.open('ws://hub.test/one', handlers());
    net.adapter.open('ws://hub.test/two', handlers());
    expect(net.latest()?.url).toBe('ws://hub.test/two');
    expect(net.peers.map((peer) => peer.url)).toEqual(['ws://hub.test/one', 'ws://hub.test/two']);
  });

  it('live() counts connecting and open connections; maxLive keeps the high-water mark', () => {
    const net = createMemoryNetwork();
    expect([net.live(), net.maxLive]).toEqual([0, 0]);
    const first = net.adapter.open('ws://hub.test/1', handlers());
    net.adapter.open('ws://hub.test/2', handlers());
    expect([net.live(), net.maxLive]).toEqual([2, 2]);
    net.peers[1]?.accept();
    expect(net.live()).toBe(2);
    first.close();
    expect([net.live(), net.maxLive]).toEqual([1, 2]);
    net.peers[1]?.drop();
    expect([net.live(), net.maxLive]).toEqual([0, 2]);
    net.adapter.open('ws://hub.test/3', handlers());
    expect([net.live(), net.maxLive]).toEqual([1, 2]);
  });

  it('tracks each peer: state, frames received, and who closed with what', async () => {
    const net = createMemoryNetwork();
    const rec = new Recorder();
    const connection = net.adapter.open('ws://hub.test/x', rec);
    const peer = net.latest() as MemoryPeer;
    expect(peer.state).toBe('connecting');
    peer.accept();
    expect(peer.state).toBe('open');
    connection.send('a');
    connection.send('b');
    expect(peer.received).toEqual(['a', 'b']);
    connection.close(4000, 'bye');
    expect(peer.state).toBe('closed');
    expect(peer.closedWith).toEqual({ code: 4000, reason: 'bye', by: 'client' });
    await rec.closed();

    const other = net.adapter.open('ws://hub.test/y', new Recorder());
    void other;
    const second = net.latest() as MemoryPeer;
    second.accept();
    second.close(4001, 'auth_failed');
    expect(second.closedWith).toEqual({ code: 4001, reason: 'auth_failed', by: 'peer' });
  });

  it('delivers far-end actions synchronously and ignores them once closed', () => {
    const net = createMemoryNetwork();
    const rec = new Recorder();
    net.adapter.open('ws://hub.test/x', rec);
    const peer = net.latest() as MemoryPeer;
    peer.send('before open');
    peer.accept();
    peer.send('one');
    expect(rec.messages()).toEqual(['one']);
    peer.close(1000, 'bye');
    peer.send('after close');
    peer.drop();
    peer.accept();
    peer.refuse();
    expect(rec.kinds()).toEqual(['open', 'message', 'close']);
  });
});
