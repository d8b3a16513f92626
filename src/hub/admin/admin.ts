import type { IncomingMessage, ServerResponse } from 'node:http';
import { reply } from '../../http/reply.ts';
import { pathOf, queryOf } from '../../http/request.ts';
import type { Logger } from '../../log/logger.ts';
import type { SessionInfo } from '../core/events.ts';
import type { OperatorAccess } from './operator-access.ts';

/** What the admin routes read from, and do to, the hub. */
export interface AdminSource {
  /** Who may use every route but `/healthz`. */
  access: Pick<OperatorAccess, 'admit'>;
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
 * - anything else → 404 `{ error: 'not_found' }`; a wrong method → 405; a request
 *   {@link OperatorAccess} refuses → 401, 403 or 429.
 *
 * @example
 * const server = http.createServer(createAdminHandler({ access, devices: () => [], revokeDevice: () => 0, logger }));
 */
export function createAdminHandler(source: AdminSource): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = pathOf(req.url);
    const found = findRoute(path);
    if (!found) return reply(res, 404, { error: 'not_found' });
    const { route } = found;
    if (route.public) return answer(req, res, source, found);
    source.access
      .admit(req, res)
      .then((admitted) => {
        if (admitted) answer(req, res, source, found);
      })
      .catch((error: unknown) => {
        source.logger.error({ err: error, path }, 'admin request failed');
        reply(res, 500, { error: 'internal' });
      });
  };
}

/** Answers a request that may use its route. */
function answer(
  req: IncomingMessage,
  res: ServerResponse,
  source: AdminSource,
  found: { route: Route; groups: Array<string | undefined> },
): void {
  const { route } = found;
  if (!route.methods.includes(req.method ?? '')) {
    return reply(res, 405, { error: 'method_not_allowed' }, { allow: route.methods.join(', ') });
  }
  const params = decodeAll(found.groups);
  if (!params) return reply(res, 400, { error: 'invalid_request' });
  const { status, body } = route.answer(source, params, queryOf(req.url));
  reply(res, status, body);
}

function findRoute(path: string): { route: Route; groups: Array<string | undefined> } | undefined {
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (match) return { route, groups: match.slice(1) };
  }
  return undefined;
}

/** URI-decodes path segments; undefined when one is not valid percent-encoding. */
function decodeAll(segments: Array<string | undefined>): string[] | undefined {
  try {
    return segments.map((segment) => decodeURIComponent(segment ?? ''));
  } catch {
    return undefined;
  }
}
