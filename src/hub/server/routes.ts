import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { type ServerOptions, type WebSocket, WebSocketServer } from 'ws';
import { pathOf } from '../../http/request.ts';

/** The WebSocket endpoint devices connect to. */
export const CONNECT_PATH = '/v1/connect';

/**
 * How long a closing session may take to answer our close frame before its socket is
 * destroyed; bounds `close()` and `restart()` when a device has hung.
 */
const CLOSE_TIMEOUT_MS = 2_000;

/** Where the hub's routes hand requests and device sockets. */
export interface RouteTargets {
  maxFrameBytes: number;
  /** Takes a request when it is one of its routes (the token and OAuth endpoints); returns false otherwise. */
  claim(req: IncomingMessage, res: ServerResponse): boolean;
  /** Answers every request nothing claimed: the admin routes, and their 404. */
  admin(req: IncomingMessage, res: ServerResponse): void;
  /** Whether device sockets are taken now: not while the hub restarts or closes. */
  accepting(): boolean;
  /** Takes a device socket whose upgrade completed; `req` is the upgrade request. */
  accept(ws: WebSocket, req: IncomingMessage): void;
}

/** The hub's `node:http` handlers: plain requests, and upgrades to the device endpoint. */
export interface HubRoutes {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes the WebSocket server. It tracks no clients: closing the sockets is the sessions' job. */
  close(): void;
}

/**
 * Creates the routes. HTTP requests go to `claim` first, then to `admin`; an upgrade is
 * taken on {@link CONNECT_PATH} only, and only while `accepting()`.
 *
 * @example
 * const routes = createRoutes({ maxFrameBytes, claim: () => false, admin, accepting: () => true, accept: (ws) => track(ws) });
 * const server = http.createServer(routes.request).on('upgrade', routes.upgrade);
 */
export function createRoutes(targets: RouteTargets): HubRoutes {
  // closeTimeout is a ws server option that @types/ws does not declare yet, hence the cast.
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: targets.maxFrameBytes,
    clientTracking: false,
    closeTimeout: CLOSE_TIMEOUT_MS,
  } as ServerOptions);
  return {
    request(req, res) {
      if (!targets.claim(req, res)) targets.admin(req, res);
    },
    upgrade(req, socket, head) {
      // After 'upgrade' node no longer handles this socket's errors: a reset must not crash us.
      socket.on('error', destroySocket);
      if (pathOf(req.url) !== CONNECT_PATH) return refuseUpgrade(socket, 404);
      // A keep-alive connection may ask to upgrade while we restart or close.
      if (!targets.accepting()) return refuseUpgrade(socket, 503);
      wss.handleUpgrade(req, socket, head, (ws) => targets.accept(ws, req));
    },
    close() {
      wss.close();
    },
  };
}

/**
 * The error listener of every upgraded socket, for its whole life. Not a closure in `upgrade`:
 * that would share `upgrade`'s context, which holds the upgrade request (for the accept
 * callback), and keep the request and its headers alive per session (~1.2 KiB of heap each,
 * bench/scale).
 */
function destroySocket(this: Duplex): void {
  this.destroy();
}

function refuseUpgrade(socket: Duplex, status: 404 | 503): void {
  const body = JSON.stringify({ error: status === 404 ? 'not_found' : 'unavailable' });
  // Wait for the response to be flushed before destroying, as ws's own abortHandshake does.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
