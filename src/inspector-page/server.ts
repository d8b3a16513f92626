import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { pathOf } from '../http/request.ts';
import { reply } from '../http/reply.ts';
import { type Logger, silentLogger } from '../log/logger.ts';
import { checkAccess, resolveToken } from './access.ts';
import { type InspectableConnector, InspectorFeed } from './feed.ts';
import { buildPage } from './page.ts';

export type { InspectableConnector } from './feed.ts';

/** Options of {@link startInspector}. */
export interface InspectorOptions {
  /** Port to listen on; 0 (the default) picks a free one. The CLI uses 7337. */
  port?: number;
  /** Address to bind. Default `127.0.0.1`; anything but loopback gets a token. */
  host?: string;
  /**
   * Required as `?token=` by the page and its WebSocket. Default: none on loopback, a random one
   * (in the returned URL) on any other address.
   */
  token?: string;
  /** Where failures are logged (a statechart that cannot be laid out, a socket error). Default silent. */
  logger?: Logger;
}

/** A running inspector. */
export interface Inspector {
  /** The page's address, with `?token=` when one is required. */
  url: string;
  /** Closes every page's socket and stops listening. Idempotent. */
  close(): Promise<void>;
}

const PAGE_PATHS = new Set(['/', '/index.html']);
const SOCKET_PATH = '/ws';
/** Pages watching at once; more are refused (each costs a copy of every batch). */
const MAX_PAGES = 16;
/** A page that has not read this much is not keeping up: it is dropped and reconnects to a fresh snapshot. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** How long a closing inspector waits for pages to answer its close frame. */
const CLOSE_WAIT_MS = 1_000;

/**
 * Starts the built-in inspector: a local HTTP + WebSocket server whose page shows the connector
 * live (the actor tree, each machine's statechart with its active states, the last transitions,
 * the retry countdown, executions and the outbox). It needs no network: the page and its data
 * come from this server only. It closes itself when the connector stops.
 *
 * @example
 * import { createConnector, startInspector } from 'cloudtether';
 *
 * const connector = createConnector(config);
 * connector.start();
 * const inspector = await startInspector(connector, { port: 7337 });
 * console.log(`inspector at ${inspector.url}`);
 * // later: await connector.stop(); (the inspector closes with it) or await inspector.close();
 */
export async function startInspector(connector: InspectableConnector, options: InspectorOptions = {}): Promise<Inspector> {
  const host = options.host ?? '127.0.0.1';
  const token = resolveToken(host, options.token);
  const logger = (options.logger ?? silentLogger()).child({ component: 'inspector' });
  const page = buildPage();
  const feed = new InspectorFeed(connector, {
    onError: (error, machine) => logger.warn({ err: error, machine }, 'cannot lay out a statechart'),
  });
  const pages = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 4 * 1024 });
  let closing: Promise<void> | undefined;

  const server = createServer((req, res) => {
    const path = pathOf(req.url);
    if (!PAGE_PATHS.has(path)) return reply(res, 404, { error: 'not_found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
    const refusal = checkAccess(req, token);
    if (refusal) return reply(res, refusal.status, { error: refusal.reason });
    servePage(req, res);
  });
  const servePage = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, page.headers);
    res.end(req.method === 'HEAD' ? undefined : page.html);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // After 'upgrade' node no longer handles this socket's errors: a reset must not crash us.
    socket.on('error', () => socket.destroy());
    if (pathOf(req.url) !== SOCKET_PATH) return refuseUpgrade(socket, 404, 'not_found');
    const refusal = checkAccess(req, token);
    if (refusal) return refuseUpgrade(socket, refusal.status, refusal.reason);
    if (closing || pages.size >= MAX_PAGES) return refuseUpgrade(socket, 503, 'unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => watch(ws));
  });

  const watch = (ws: WebSocket) => {
    pages.add(ws);
    // The page has nothing to say: anything it sends is ignored, anything too big closes it (1009).
    ws.on('message', () => {});
    ws.on('error', (error) => {
      logger.debug({ err: error }, 'inspector page socket error');
      ws.terminate();
    });
    const send = (message: unknown) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        logger.warn('an inspector page is not keeping up; dropping it');
        ws.terminate();
        return;
      }
      ws.send(JSON.stringify(message));
    };
    send(feed.snapshot());
    const stop = feed.listen(send, (why) => ws.close(1001, why === 'connector_stopped' ? 'connector stopped' : 'inspector closed'));
    ws.on('close', () => {
      stop();
      pages.delete(ws);
    });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    feed.close();
    throw error;
  });
  server.on('error', (error) => logger.error({ err: error }, 'inspector server error'));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 0);

  const close = () => {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      const pagesClosed = Promise.all([...pages].map((ws) => new Promise((resolve) => ws.once('close', resolve))));
      feed.close(); // each page gets 1001 and the reason, so it can say why it went quiet
      wss.close();
      server.closeAllConnections();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([pagesClosed, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      for (const ws of pages) ws.terminate();
      await stopped;
    })();
    return closing;
  };
  void feed.ended.then(close);

  return {
    url: `http://${urlHost(host)}:${port}/${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`,
    close,
  };
}

/** A host as it goes in a URL a person can open: an unspecified address becomes loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function refuseUpgrade(socket: Duplex, status: number, error: string): void {
  const body = JSON.stringify({ error });
  // Wait for the response to be flushed before destroying, as ws's own abortHandshake does.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
