import type { IncomingMessage } from 'node:http';
import type { CreateShare, SharedView } from '../../api/contract.ts';
import { originOf } from '../../http/request.ts';
import type { Logger } from '../../log/logger.ts';
import type { HubClock } from '../core/options.ts';
import type { ExecutionSnapshot } from '../delivery/executions.ts';
import type { HubSettings } from '../settings/settings.ts';
import type { ApiAnswer } from './api-answer.ts';
import type { ApiCaller } from './api-auth.ts';
import { DEFAULT_SHARE_EXPIRY_S, sharingPolicyOf, type Shares } from './shares.ts';

/** What the share routes consult. */
export interface ShareRouteParts {
  shares: Shares;
  logger: Logger;
  clock: HubClock;
  /** Organization documents: the `sharing` key decides what may be shared. */
  settings: Pick<HubSettings, 'org'>;
  /** An execution the hub still holds (`hub.execution`). */
  execution(requestId: string): ExecutionSnapshot | undefined;
  /** The tenant that opened a task, while it is open. */
  taskTenant(taskId: string): string | undefined;
  /** `host:port` of the hub, for a request without a usable `Host` header. */
  fallbackHost(): string;
}

/**
 * `POST /v1/shares`: a share link to a task or an execution of the caller's tenant, as the
 * organization's `sharing` settings allow: 403 `sharing_disabled` or `public_sharing_disabled`,
 * 400 `expiry_too_long` past `max_expiry_s` (refused, not clamped: the caller asked for a link
 * that long), 404 `not_found` for a resource of another tenant or none. Without `expires_in_s` a
 * share lasts 7 days, or `max_expiry_s` when that is shorter.
 *
 * @example
 * const answer = await createShare(parts, req, 'acme', { resource: { type: 'execution', id: 'req_1' }, visibility: 'organization' });
 * answer.status; // 201
 */
export async function createShare(
  parts: ShareRouteParts,
  req: IncomingMessage,
  tenantId: string,
  request: CreateShare,
): Promise<ApiAnswer> {
  const policy = sharingPolicyOf(parts.settings.org(tenantId).settings);
  if (!policy?.enabled) {
    const message = policy ? 'the organization has sharing turned off' : "the organization's sharing settings are not valid";
    return { status: 403, body: { error: 'sharing_disabled', message } };
  }
  if (request.visibility === 'public' && !policy.allow_public)
    return { status: 403, body: { error: 'public_sharing_disabled', message: 'the organization allows organization shares only' } };
  if (request.expires_in_s !== undefined && request.expires_in_s > policy.max_expiry_s) {
    return {
      status: 400,
      body: { error: 'expiry_too_long', message: `the organization allows shares of at most ${policy.max_expiry_s} s` },
    };
  }
  const { resource } = request;
  const owner = resource.type === 'execution' ? parts.execution(resource.id)?.tenant_id : parts.taskTenant(resource.id);
  // Another tenant's resource is as unknown as one that never was.
  if (owner !== tenantId) return { status: 404, body: { error: 'not_found', message: `no ${resource.type} '${resource.id}'` } };
  const now = parts.clock.now();
  const expiresInS = request.expires_in_s ?? Math.min(DEFAULT_SHARE_EXPIRY_S, policy.max_expiry_s);
  const origin = originOf(req, () => parts.fallbackHost());
  const share = await parts.shares.create(
    { tenant_id: tenantId, resource, visibility: request.visibility, expires_at: now + expiresInS * 1_000 },
    now,
    (id) => `${origin}/v1/shares/${id}`,
  );
  if (!share)
    return { status: 409, body: { error: 'limit_reached', message: 'the organization holds as many live shares as the hub keeps' } };
  parts.logger.info(
    { tenant_id: tenantId, share_id: share.id, resource_type: resource.type, visibility: share.visibility, expires_at: share.expires_at },
    'share created',
  );
  return { status: 201, body: share };
}

/**
 * `GET /v1/shares/{id}`: a public share to anyone, an organization share to a credential of its
 * tenant (401 without one, 404 with another tenant's); 404 once expired. The answer is the share
 * and where its resource is now ({@link SharedView}).
 *
 * @example
 * await readShare(parts, 'shr_…', undefined); // { status: 200, body: { id, …, resource_status: 'completed' } } for a public share
 */
export async function readShare(parts: ShareRouteParts, id: string, caller: ApiCaller | undefined): Promise<ApiAnswer> {
  const share = await parts.shares.get(id, parts.clock.now());
  const notFound: ApiAnswer = { status: 404, body: { error: 'not_found' } };
  if (!share) return notFound;
  if (share.visibility === 'organization') {
    if (!caller)
      return { status: 401, body: { error: 'unauthorized', message: 'an organization share needs a credential of its organization' } };
    if (caller.tenant_id !== share.tenant_id) return notFound;
  }
  const { resource } = share;
  // Only the status: events and outcomes may hold what the share's audience should not see.
  const status =
    resource.type === 'execution'
      ? (parts.execution(resource.id)?.status ?? null)
      : parts.taskTenant(resource.id) === share.tenant_id
        ? 'open'
        : 'closed';
  const view: SharedView = { ...share, resource_status: status };
  return { status: 200, body: view };
}
