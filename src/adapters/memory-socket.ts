import type { SocketAdapter, SocketConnection, SocketHandlers } from './socket.ts';

/** The far end of one in-memory socket, driven by a test. */
export interface MemoryPeer {
  readonly url: string;
  /** Frames the client sent, in order. */
  readonly received: string[];
  readonly state: 'connecting' | 'open' | 'closed';
  /** Close code and reason once closed, from whichever side closed. */
  readonly closedWith: { code: number; reason: string; by: 'client' | 'peer' } | undefined;
  /** Completes the opening handshake: the client's `onOpen` runs. */
  accept(): void;
  /** Fails the opening handshake (connection refused): `onError`, then `onClose(1006)`. */
  refuse(message?: string): void;
  /** Delivers a frame to the client. */
  send(data: string): void;
  /** Closes from the far end with a code: the client's `onClose(code)` runs. */
  close(code?: number, reason?: string): void;
  /** The network drops the connection: the client's `onClose(1006)` runs. */
  drop(): void;
}

/** An in-memory network of sockets for unit tests; see {@link createMemoryNetwork}. */
export interface MemoryNetwork {
  readonly adapter: SocketAdapter;
  /** Every connection ever opened through `adapter`, oldest first. */
  readonly peers: readonly MemoryPeer[];
  /** The newest connection, or undefined. */
  latest(): MemoryPeer | undefined;
  /** Connections not yet closed (connecting or open). The connector must never hold two. */
  live(): number;
  /** Largest number of connections ever live at once. */
  readonly maxLive: number;
  /** Called (in a microtask) for each new connection, e.g. to accept it at once. */
  onConnection: ((peer: MemoryPeer) => void) | undefined;
}

/**
 * Creates an in-memory socket network. What the far end does is delivered to the client
 * synchronously (the test is in control); what the client does to its own socket (`close`,
 * `terminate`) reaches its handlers in a microtask, as with a real socket.
 *
 * @example
 * const net = createMemoryNetwork();
 * net.onConnection = (peer) => peer.accept();
 * const conn = net.adapter.open('ws://hub', handlers);
 */
export function createMemoryNetwork(): MemoryNetwork {
  const peers: MemoryPeer[] = [];
  let maxLive = 0;

  const network: MemoryNetwork = {
    peers,
    onConnection: undefined,
    get maxLive() {
      return maxLive;
    },
    latest: () => peers[peers.length - 1],
    live: () => peers.filter((p) => p.state !== 'closed').length,
    adapter: {
      open(url: string, handlers: SocketHandlers): SocketConnection {
        const { peer, connection } = createPair(url, handlers);
        peers.push(peer);
        maxLive = Math.max(maxLive, network.live());
        queueMicrotask(() => network.onConnection?.(peer));
        return connection;
      },
    },
  };
  return network;
}

function createPair(url: string, handlers: SocketHandlers): { peer: MemoryPeer; connection: SocketConnection } {
  let state: MemoryPeer['state'] = 'connecting';
  let closedWith: MemoryPeer['closedWith'];
  const received: string[] = [];

  const finish = (code: number, reason: string, by: 'client' | 'peer') => {
    if (state === 'closed') return false;
    state = 'closed';
    closedWith = { code, reason, by };
    return true;
  };

  const peer: MemoryPeer = {
    url,
    received,
    get state() {
      return state;
    },
    get closedWith() {
      return closedWith;
    },
    accept() {
      if (state !== 'connecting') return;
      state = 'open';
      handlers.onOpen();
    },
    refuse(message = 'connect ECONNREFUSED') {
      if (state !== 'connecting') return;
      finish(1006, '', 'peer');
      handlers.onError(new Error(message));
      handlers.onClose(1006, '');
    },
    send(data) {
      if (state === 'open') handlers.onMessage(data);
    },
    close(code = 1000, reason = '') {
      if (finish(code, reason, 'peer')) handlers.onClose(code, reason);
    },
    drop() {
      if (finish(1006, '', 'peer')) handlers.onClose(1006, '');
    },
  };

  const connection: SocketConnection = {
    bufferedAmount: 0,
    send(data) {
      if (state === 'open') received.push(data);
    },
    close(code = 1000, reason = '') {
      // An open socket sends a close frame: refuse what `ws` refuses, so that a bad code is
      // caught by unit tests and not first by a real socket.
      if (state === 'open') assertSendableClose(code, reason);
      // A socket still connecting cannot send a close frame: it is dropped (as `ws` does).
      const effective = state === 'connecting' ? 1006 : code;
      if (finish(effective, reason, 'client')) queueMicrotask(() => handlers.onClose(effective, reason));
    },
    terminate() {
      if (finish(1006, '', 'client')) queueMicrotask(() => handlers.onClose(1006, ''));
    },
  };
  return { peer, connection };
}

/**
 * Throws as `ws` does for a close frame it would not send: a code outside 1000-1014 (less
 * 1004-1006) and 3000-4999, or a reason over 123 bytes of UTF-8.
 */
function assertSendableClose(code: number, reason: string): void {
  const sendable =
    typeof code === 'number' &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999));
  if (!sendable) throw new TypeError('First argument must be a valid error code number');
  if (new TextEncoder().encode(reason).byteLength > 123) {
    throw new RangeError('The message must not be greater than 123 bytes');
  }
}
