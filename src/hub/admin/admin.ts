import type { IncomingMessage, ServerResponse } from 'node:http';
import { reply } from '../../http/reply.ts';
import { pathOf, queryOf } from '../../http/request.ts';
import { safeEqual } from '../../http/safe-equal.ts';
import type { Logger } from '../../log/logger.ts';
import type { SessionInfo } from '../core/events.ts';

/** What the admin routes read from, and do to, the hub. */
export interface AdminSource {
  /** When set, every route but `/healthz` needs `authorization: Bearer <adminToken>`. */
  adminToken: string | undefined;
  devices(): SessionInfo[];
  /** Revokes a device (in every tenant without `tenantId`); returns how many sessions it closed. */
  revokeDevice(deviceId: string, tenantId: string | undefined): number;
  logger: Logger;
}

interface Answer {
  status: number;
  body: unknown;
}

interface Route {
  pattern: RegExp;
  methods: readonly string[];
  /** Open without the admin token (load balancer probes carry none). */
  public: boolean;
  /** `params` are the pattern's groups, URI-decoded. */
  answer(source: AdminSource, params: string[], query: URLSearchParams): Answer;
}

const READ = ['GET', 'HEAD'] as const;

const routes: readonly Route[] = [
  {
    pattern: /^\/healthz$/,
    methods: READ,
    public: true,
    answer: (source) => ({ status: 200, body: { ok: true, sessions: source.devices().length } }),
  },
  { pattern: /^\/v1\/devices$/, methods: READ, public: false, answer: (source) => ({ status: 200, body: { devices: source.devices() } }) },
  {
    pattern: /^\/v1\/devices\/([^/]+)\/revoke$/,
    methods: ['POST'],
    public: false,
    answer: (source, [deviceId = ''], query) => {
      const tenantId = query.get('tenant_id') ?? undefined;
      if (tenantId === '') return { status: 400, body: { error: 'invalid_request' } };
      const closed = source.revokeDevice(deviceId, tenantId);
      return { status: 200, body: { device_id: deviceId, tenant_id: tenantId ?? null, closed } };
    },
  },
];

/**
 * The hub's admin HTTP routes, as a `node:http` request listener. Every answer is JSON.
 *
 * - `GET /healthz` → `{ ok: true, sessions }`, always open.
 * - `GET /v1/devices` → `{ devices: SessionInfo[] }`.
 * - `POST /v1/devices/{device_id}/revoke[?tenant_id=…]` → `{ device_id, tenant_id, closed }`:
 *   closes the device's sessions with `4007` and refuses it until it is unrevoked.
 * - anything else → 404 `{ error: 'not_found' }`; a wrong method → 405; a missing or wrong
 *   bearer (when `adminToken` is set) → 401.
 *
 * @example
 * const server = http.createServer(createAdminHandler({ adminToken, devices: () => [], revokeDevice: () => 0, logger }));
 */
export function createAdminHandler(source: AdminSource): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = pathOf(req.url);
    const found = findRoute(path);
    if (!found) return reply(res, 404, { error: 'not_found' });
    const { route } = found;
    if (!route.public && !isAdminRequest(req, source.adminToken)) {
      source.logger.warn({ path }, 'admin request refused: bad or missing bearer');
      return reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    }
    if (!route.methods.includes(req.method ?? '')) {
      return reply(res, 405, { error: 'method_not_allowed' }, { allow: route.methods.join(', ') });
    }
    const params = decodeAll(found.groups);
    if (!params) return reply(res, 400, { error: 'invalid_request' });
    const { status, body } = route.answer(source, params, queryOf(req.url));
    reply(res, status, body);
  };
}

function findRoute(path: string): { route: Route; groups: Array<string | undefined> } | undefined {
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (match) return { route, groups: match.slice(1) };
  }
  return undefined;
}

/**
 * Whether a request may use the admin routes: always when no admin token is set, otherwise
 * with `authorization: Bearer <adminToken>` (compared in constant time).
 *
 * @example
 * if (!isAdminRequest(req, adminToken)) return reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
 */
export function isAdminRequest(req: IncomingMessage, adminToken: string | undefined): boolean {
  if (adminToken === undefined) return true;
  const match = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1] !== undefined && safeEqual(match[1], adminToken);
}

/** URI-decodes path segments; undefined when one is not valid percent-encoding. */
function decodeAll(segments: Array<string | undefined>): string[] | undefined {
  try {
    return segments.map((segment) => decodeURIComponent(segment ?? ''));
  } catch {
    return undefined;
  }
}
