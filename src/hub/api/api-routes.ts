import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CreateApiKey, CreateShare, type Permission, type RateLimit, TelemetryBatch } from '../../api/contract.ts';
import { reply } from '../../http/reply.ts';
import { parseParams, pathOf, queryOf, readBody } from '../../http/request.ts';
import type { Logger } from '../../log/logger.ts';
import type { OperatorAccess } from '../admin/operator-access.ts';
import { HubError } from '../core/errors.ts';
import type { UsageSummary } from '../usage/usage-store.ts';
import type { ApiAnswer } from './api-answer.ts';
import { type ApiAuthParts, type ApiCaller, apiKeyOf, authenticateApiRequest } from './api-auth.ts';
import { throttledAnswer } from '../throttle/throttled-reply.ts';
import { RateLimiter, rateLimitHeaders } from './api-rate-limit.ts';
import type { HubApi } from './hub-api.ts';
import { createShare, readShare, type ShareRouteParts } from './share-routes.ts';

/** What the REST API routes work with. */
export interface ApiRoutesParts extends Omit<ShareRouteParts, 'shares'> {
  /** Tells an operator's `/v1/usage` (the admin bearer) from a tenant's. */
  access: Pick<OperatorAccess, 'presentsToken'>;
  logger: Logger;
  api: HubApi;
  auth: Omit<ApiAuthParts, 'keys'>;
  rateLimit: RateLimit;
  /** The hub's usage ledger summary of a tenant (`hub.usage`). */
  usage(tenantId: string): UsageSummary;
}

/** What a handler gets: the request, its caller (absent only on an open route called without a credential), path groups, and the checked body. */
interface Call {
  req: IncomingMessage;
  caller: ApiCaller | undefined;
  params: string[];
  body: unknown;
}

interface Method {
  /** Needed by the caller; an unset permission still needs a credential unless `open`. */
  permission?: Permission;
  /** Answers without a credential (a public share). */
  open?: boolean;
  body?: { schema: z.ZodType; limit: number };
  handle(call: Call): ApiAnswer | Promise<ApiAnswer>;
}

interface Route {
  pattern: RegExp;
  methods: Record<string, Method>;
}

const SMALL_BODY = 16 * 1024;
const TELEMETRY_BODY = 1024 * 1024;
const STATUS_OF_ERROR: Partial<Record<HubError['code'], [number, string]>> = {
  invalid_request: [400, 'invalid_request'],
  unknown_api_key: [404, 'not_found'],
  api_key_revoked: [409, 'key_revoked'],
  limit_reached: [409, 'limit_reached'],
};

/**
 * The REST API for connectors and their hosts (docs/api.md, `src/api/contract.ts`), tenant-scoped:
 * `GET /v1/whoami`, `GET /v1/limits`, `GET|POST /v1/api-keys`, `DELETE /v1/api-keys/{id}`,
 * `POST /v1/api-keys/{id}/rotate`, `GET /v1/usage` (with a tenant credential; the admin bearer
 * with `?tenant=` stays the operators' route), `POST /v1/shares`, `GET /v1/shares/{id}`,
 * `POST /v1/telemetry`.
 *
 * Each request is authenticated ({@link authenticateApiRequest}), then charged to its
 * credential's token bucket (a request without a valid credential to its address's), then its
 * permission is checked: 429 `rate_limited` with `retry-after`, 429 `too_many_attempts` with
 * `retry-after` (failed credentials, src/hub/throttle/failure-throttle.ts), 401 `unauthorized`,
 * 403 `forbidden`. Every answer carries `ratelimit-limit`, `ratelimit-remaining` and
 * `ratelimit-reset`. Returns false for a request that is not one of these routes.
 *
 * @example
 * const apiRoutes = createApiRoutes({ access, logger, api: hub.api, auth, rateLimit, clock, settings, execution, taskTenant, usage, fallbackHost });
 * http.createServer((req, res) => apiRoutes(req, res) || notFound(res));
 */
export function createApiRoutes(parts: ApiRoutesParts): (req: IncomingMessage, res: ServerResponse) => boolean {
  const now = () => parts.clock.now();
  const limiter = parts.api.rateBuckets ?? new RateLimiter(parts.rateLimit, now);
  const auth: ApiAuthParts = { ...parts.auth, keys: parts.api.keys };
  const routes = routeTable(parts);
  return (req, res) => {
    const path = pathOf(req.url);
    const found = findRoute(routes, path);
    if (!found) return false;
    if (path === '/v1/usage' && !isTenantUsageRequest(req, parts.access)) return false;
    serve(req, res, found).catch((error: unknown) => {
      parts.logger.error({ err: error, path }, 'api request failed');
      reply(res, 500, { error: 'internal' });
    });
    return true;
  };

  async function serve(req: IncomingMessage, res: ServerResponse, { route, params }: { route: Route; params: string[] }): Promise<void> {
    const path = pathOf(req.url);
    const method = route.methods[req.method ?? ''];
    const anonymous = method?.open === true && req.headers.authorization === undefined;
    const verdict = anonymous ? undefined : await authenticateApiRequest(req, auth);
    const caller = verdict?.ok ? verdict.caller : undefined;
    const rate = await limiter.take(caller?.bucket ?? `addr:${req.socket.remoteAddress ?? ''}`);
    const headers = rateLimitHeaders(rate);
    const answer = (status: number, body: unknown, extra: Record<string, string> = {}) =>
      reply(res, status, body, { ...headers, ...extra });
    if (!rate.ok) {
      parts.logger.warn(
        { path, kind: caller?.kind ?? 'anonymous', tenant_id: caller?.tenant_id, api_key_id: caller?.api_key_id },
        'api request rate limited',
      );
      return answer(429, { error: 'rate_limited', message: `retry in ${rate.retryAfterS} s` });
    }
    if (verdict && !verdict.ok) {
      if (verdict.error === 'throttled') {
        const throttled = throttledAnswer(verdict.retryAfterMs ?? 0);
        return answer(429, throttled.body, throttled.headers);
      }
      parts.logger.warn({ path, reason: verdict.reason, api_key_id: verdict.api_key_id }, 'api request refused');
      if (verdict.error === 'unavailable') return answer(503, { error: 'unavailable' });
      return answer(401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    }
    if (!method) return answer(405, { error: 'method_not_allowed' }, { allow: Object.keys(route.methods).join(', ') });
    if (method.permission && !caller?.permissions.includes(method.permission)) {
      return answer(403, { error: 'forbidden', message: `this credential does not have the '${method.permission}' permission` });
    }
    let body: unknown;
    if (method.body) {
      const read = await readJson(req, method.body.schema, method.body.limit);
      if (!read.ok) return answer(read.status, read.error);
      body = read.value;
    }
    try {
      const { status, body: answered } = await method.handle({ req, caller, params, body });
      answer(status, answered, status === 401 ? { 'www-authenticate': 'Bearer' } : {});
    } catch (error) {
      const mapped = error instanceof HubError ? STATUS_OF_ERROR[error.code] : undefined;
      if (!mapped || !(error instanceof HubError)) throw error;
      answer(mapped[0], { error: mapped[1], message: error.message });
    }
  }
}

function routeTable(parts: ApiRoutesParts): Route[] {
  const { api } = parts;
  const shareParts: ShareRouteParts = { ...parts, shares: api.shares };
  const tenantOf = (call: Call) => (call.caller as ApiCaller).tenant_id;
  /**
   * Rotating a key hands out its secret, and revoking it locks its holder out: a credential may
   * do either only to keys that do no more than it may itself (as when creating one).
   */
  const overreach = async (call: Call): Promise<{ status: number; body: unknown } | undefined> => {
    // A key made or changed on another hub node (on a shared engine), as it is now.
    await api.keys.refresh(call.params[0] ?? '');
    const target = api.keys.get(tenantOf(call), call.params[0] ?? '');
    const beyond = target?.permissions.filter((permission) => !call.caller?.permissions.includes(permission)) ?? [];
    return beyond.length > 0
      ? { status: 403, body: { error: 'forbidden', message: `this credential cannot manage a key with ${beyond.join(', ')}` } }
      : undefined;
  };
  return [
    { pattern: /^\/v1\/whoami$/, methods: { GET: { handle: ({ caller }) => ({ status: 200, body: whoami(caller as ApiCaller) }) } } },
    { pattern: /^\/v1\/limits$/, methods: { GET: { handle: () => ({ status: 200, body: { ...parts.rateLimit } }) } } },
    {
      pattern: /^\/v1\/api-keys$/,
      methods: {
        GET: { permission: 'api_keys:manage', handle: (call) => ({ status: 200, body: { keys: api.apiKeys(tenantOf(call)) } }) },
        POST: {
          permission: 'api_keys:manage',
          body: { schema: CreateApiKey, limit: SMALL_BODY },
          handle: async (call) => {
            const request = call.body as CreateApiKey;
            const beyond = request.permissions.filter((permission) => !call.caller?.permissions.includes(permission));
            // A key never does more than its creator may.
            if (beyond.length > 0)
              return { status: 403, body: { error: 'forbidden', message: `this credential cannot give ${beyond.join(', ')}` } };
            const created = api.createApiKey(tenantOf(call), request);
            // Answered once stored: the key works on every hub node from then on.
            await api.keys.settled();
            return { status: 201, body: created };
          },
        },
      },
    },
    {
      pattern: /^\/v1\/api-keys\/([^/]+)$/,
      methods: {
        DELETE: {
          permission: 'api_keys:manage',
          // Another tenant's key is as unknown as a key that never was.
          handle: async (call) => {
            const refused = await overreach(call);
            if (refused) return refused;
            if (!api.revokeApiKey(tenantOf(call), call.params[0] ?? '')) return { status: 404, body: { error: 'not_found' } };
            // Answered once stored: every hub node refuses the key from then on.
            await api.keys.settled();
            return { status: 204 };
          },
        },
      },
    },
    {
      pattern: /^\/v1\/api-keys\/([^/]+)\/rotate$/,
      methods: {
        POST: {
          permission: 'api_keys:manage',
          handle: async (call) => {
            const refused = await overreach(call);
            if (refused) return refused;
            const rotated = api.rotateApiKey(tenantOf(call), call.params[0] ?? '');
            await api.keys.settled();
            return { status: 200, body: rotated };
          },
        },
      },
    },
    {
      pattern: /^\/v1\/usage$/,
      methods: {
        GET: {
          permission: 'usage:read',
          handle: (call) => {
            const tenantId = tenantOf(call);
            const asked = queryOf(call.req.url).get('tenant');
            if (asked !== null && asked !== tenantId)
              return { status: 403, body: { error: 'forbidden', message: 'a tenant credential reads its own tenant only' } };
            const { totals, reports } = parts.usage(tenantId);
            return { status: 200, body: { tenant_id: tenantId, totals, entries: reports } };
          },
        },
      },
    },
    {
      pattern: /^\/v1\/shares$/,
      methods: {
        POST: {
          permission: 'shares:write',
          body: { schema: CreateShare, limit: SMALL_BODY },
          handle: (call) => createShare(shareParts, call.req, tenantOf(call), call.body as CreateShare),
        },
      },
    },
    {
      pattern: /^\/v1\/shares\/([^/]+)$/,
      methods: { GET: { open: true, handle: (call) => readShare(shareParts, call.params[0] ?? '', call.caller) } },
    },
    {
      pattern: /^\/v1\/telemetry$/,
      methods: {
        POST: {
          permission: 'telemetry:write',
          body: { schema: TelemetryBatch, limit: TELEMETRY_BODY },
          handle: async ({ caller, body }) => {
            const { tenant_id: tenantId, device_id: deviceId, api_key_id: apiKeyId } = caller as ApiCaller;
            const from = {
              ...(deviceId !== undefined && { device_id: deviceId }),
              ...(apiKeyId !== undefined && { api_key_id: apiKeyId }),
            };
            return { status: 202, body: await api.ingestTelemetry(tenantId, (body as TelemetryBatch).batch, from) };
          },
        },
      },
    },
  ];
}

type TelemetryBatch = z.infer<typeof TelemetryBatch>;

function whoami(caller: ApiCaller): Record<string, unknown> {
  const { bucket: _bucket, ...who } = caller;
  return who;
}

function findRoute(routes: Route[], path: string): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    try {
      return { route, params: match.slice(1).map((group) => decodeURIComponent(group ?? '')) };
    } catch {
      // Bad percent-encoding names nothing the hub holds.
      return { route, params: [''] };
    }
  }
  return undefined;
}

/**
 * `/v1/usage` is also the operators' route (admin bearer, `?tenant=`): it is this module's only
 * for a request with a tenant credential, an API key or the device headers.
 */
function isTenantUsageRequest(req: IncomingMessage, access: Pick<OperatorAccess, 'presentsToken'>): boolean {
  if (access.presentsToken(req)) return false;
  return apiKeyOf(req) !== undefined || req.headers['x-device-id'] !== undefined || req.headers['x-tenant-id'] !== undefined;
}

/** Reads a JSON body of at most `limit` bytes and checks it against `schema`. */
async function readJson(
  req: IncomingMessage,
  schema: z.ZodType,
  limit: number,
): Promise<{ ok: true; value: unknown } | { ok: false; status: 400 | 413; error: Record<string, string> }> {
  const tooLarge = { ok: false, status: 413, error: { error: 'too_large', message: `the body is over ${limit} bytes` } } as const;
  if (Number(req.headers['content-length'] ?? 0) > limit) return tooLarge;
  const text = await readBody(req, limit);
  // Undefined is also a client that went away; the answer then goes nowhere.
  if (text === undefined) return tooLarge;
  const parsed = schema.safeParse(parseParams('application/json', text));
  if (!parsed.success)
    return { ok: false, status: 400, error: { error: 'invalid_request', message: z.prettifyError(parsed.error).slice(0, 4_000) } };
  return { ok: true, value: parsed.data };
}
