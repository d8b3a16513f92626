import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { Network, NetworkRoute } from '../network/network.ts';
import { proxyRefusal } from '../network/network-failure.ts';
import { holdWrites, releaseWrites } from './write-batch.ts';
import type { SocketAdapter, SocketConnection, SocketHandlers, SocketOpenOptions } from './socket.ts';

/**
 * The real socket adapter, on `ws`. Permessage-deflate is off: frames are small JSON and the
 * compression context costs ~300 KiB per socket.
 *
 * Where `ws` alone would differ from the contract in src/adapters/socket.ts, this adapter
 * smooths it over: `close()` without a code sends 1000 (not an empty frame the peer reads as
 * 1005), and closing or terminating a socket that is still connecting ends in `onClose(1006)`
 * without an `onError` for the abort the caller asked for. A malformed URL still throws from
 * `open()`, as `new WebSocket()` does: it is a configuration bug, not a connection outcome.
 *
 * @example
 * const conn = wsSocketAdapter.open('ws://127.0.0.1:8080/v1/connect', {
 *   onOpen: () => conn.send('{}'), onMessage: console.log,
 *   onClose: (code) => console.log('closed', code), onError: console.error,
 * });
 */
export const wsSocketAdapter: SocketAdapter = createWsSocketAdapter();

export interface WsSocketAdapterOptions {
  /** The network policy: proxy, CA, client certificate, pins. Default: direct, Node's trust. */
  network?: Network;
}

/**
 * A socket adapter on `ws` that goes where the network policy says: through its proxy (a CONNECT
 * tunnel, for ws:// and wss:// alike), with its CA, client certificate and pins, on the same
 * agents as the HTTP adapter (`createNodeHttpAdapter`). A TLS or proxy failure reaches
 * `onError` as a `NetworkFailure` (src/network/network-failure.ts) that names its reason, the
 * host and the remedy; a proxy's 407 is one (`proxy_auth_required`), not a bare handshake error.
 */
export function createWsSocketAdapter({ network }: WsSocketAdapterOptions = {}): SocketAdapter {
  return { open: (url, handlers, options) => openWs(url, handlers, options, network) };
}

function openWs(url: string, handlers: SocketHandlers, options: SocketOpenOptions = {}, network?: Network): SocketConnection {
  const route: NetworkRoute | undefined = network?.route(url);
  const socket = new WebSocket(url, {
    perMessageDeflate: false,
    ...(options.maxPayload !== undefined && { maxPayload: options.maxPayload }),
    ...(options.headers && { headers: options.headers }),
    ...(route && { agent: route.agent }),
    ...(url.startsWith('wss:') && network?.tlsFor(url)),
  });
  let closed = false;
  // Set once this side called close() or terminate(): ws then reports its own abort as an
  // error ("closed before the connection was established"), which is no news to the caller.
  let closedLocally = false;
  socket.on('open', () => handlers.onOpen());
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    handlers.onMessage(isBinary ? data : data.toString('utf8'));
  });
  socket.on('error', (error: Error) => {
    if (!closed && !closedLocally) handlers.onError((route && network?.classify(error, route)) ?? error);
  });
  // An answer other than 101: `ws` would report it as a bare "Unexpected server response". When
  // the proxy gave it (a refused tunnel, a 407), say so.
  socket.on('unexpected-response', (request: ClientRequest, response: IncomingMessage) => {
    const status = response.statusCode ?? 0;
    response.resume();
    const refusal = route && proxyRefusal(status, network!.tunnelRefusal(request), route.failedRoute);
    const error = refusal ?? new Error(`Unexpected server response: ${status}`);
    if (!closed && !closedLocally) handlers.onError(error);
    closedLocally = true;
    request.destroy();
    socket.terminate();
  });
  socket.on('close', (code: number, reason: Buffer) => {
    if (closed) return;
    closed = true;
    handlers.onClose(code, reason.toString('utf8'));
  });
  return {
    send(data) {
      if (socket.readyState !== WebSocket.OPEN) return;
      holdWrites(socket);
      socket.send(data);
    },
    close(code = 1000, reason) {
      if (socket.readyState === WebSocket.CONNECTING) {
        // No close frame can be sent before the handshake: drop the attempt (onClose 1006).
        closedLocally = true;
        socket.terminate();
      } else if (socket.readyState === WebSocket.OPEN) {
        // The code defaults to 1000: without one, ws sends an empty close frame and both
        // sides report 1005 (no status), which tells the hub nothing.
        // An invalid code or a reason over 123 bytes throws here (a caller bug), as in ws.
        socket.close(code, reason);
        closedLocally = true;
      }
    },
    terminate() {
      if (socket.readyState !== WebSocket.CLOSED) closedLocally = true;
      releaseWrites(socket);
      socket.terminate();
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
  };
}
