import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.ts';
import type { SessionInfo } from './events.ts';
import { safeEqual } from './safe-equal.ts';

/** What the admin routes read from the hub. */
export interface AdminSource {
  /** When set, every route but `/healthz` needs `authorization: Bearer <adminToken>`. */
  adminToken: string | undefined;
  devices(): SessionInfo[];
  logger: Logger;
}

interface Route {
  /** Open without the admin token (load balancer probes carry none). */
  public: boolean;
  body(source: AdminSource): unknown;
}

const routes: ReadonlyMap<string, Route> = new Map([
  ['/healthz', { public: true, body: (source) => ({ ok: true, sessions: source.devices().length }) }],
  ['/v1/devices', { public: false, body: (source) => ({ devices: source.devices() }) }],
]);

/**
 * The hub's admin HTTP routes, as a `node:http` request listener. Every answer is JSON.
 *
 * - `GET /healthz` → `{ ok: true, sessions }`, always open.
 * - `GET /v1/devices` → `{ devices: SessionInfo[] }`.
 * - anything else → 404 `{ error: 'not_found' }`; a wrong method → 405; a missing or wrong
 *   bearer (when `adminToken` is set) → 401.
 *
 * @example
 * const server = http.createServer(createAdminHandler({ adminToken, devices: () => [], logger }));
 */
export function createAdminHandler(source: AdminSource): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const route = routes.get(pathOf(req.url));
    if (!route) return reply(res, 404, { error: 'not_found' });
    if (!route.public && !authorized(req, source.adminToken)) {
      source.logger.warn({ path: pathOf(req.url) }, 'admin request refused: bad or missing bearer');
      res.setHeader('www-authenticate', 'Bearer');
      return reply(res, 401, { error: 'unauthorized' });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return reply(res, 405, { error: 'method_not_allowed' });
    }
    reply(res, 200, route.body(source));
  };
}

/** The path of a request target, without its query string. */
export function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?', 1)[0] ?? '/';
}

function authorized(req: IncomingMessage, adminToken: string | undefined): boolean {
  if (adminToken === undefined) return true;
  const match = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1] !== undefined && safeEqual(match[1], adminToken);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
