import type { IncomingMessage } from 'node:http';
import { Permission } from '../../api/contract.ts';
import { clientAddress } from '../../http/client-address.ts';
import { authenticateDeviceRequest, type DeviceRequestAuth, type DeviceRequestRefusal } from '../auth/device-request.ts';
import type { HubUser, OrganizationRole, UserOrganization } from '../core/options.ts';
import type { Attempt, FailureThrottle } from '../throttle/failure-throttle.ts';
import { type ApiKeyRefusal, apiKeyIdOf, type ApiKeyStore } from './api-keys.ts';

/** Who called a REST route, what it may do, and which rate-limit bucket it draws on. */
export interface ApiCaller {
  kind: 'device' | 'user' | 'api_key' | 'static';
  tenant_id: string;
  device_id?: string;
  user_id?: string;
  api_key_id?: string;
  permissions: Permission[];
  /** A user token: the user's organizations and roles, from the hub's `tokens.users`. */
  organizations?: UserOrganization[];
  /** The credential's rate-limit bucket: the API key's id, the token's `jti`, or the (tenant, device) of a static credential. */
  bucket: string;
}

/** What authenticates a REST request. */
export interface ApiAuthParts {
  /** Device and user tokens, and static credentials: the checks of `connect`. */
  device: DeviceRequestAuth;
  keys: Pick<ApiKeyStore, 'authenticate'>;
  /** The hub's users (`tokens.users`): a user token's permissions follow the user's role in its organization. */
  users: readonly HubUser[];
  /** Slows down wrong API keys, per address and per key id (`api_key`). */
  throttle: FailureThrottle;
  now(): number;
}

/** Refusals of a presented key that count as a failed attempt: a revoked or expired key with its right secret is no guess. */
const COUNTED_KEY_REFUSALS: ReadonlySet<ApiKeyRefusal> = new Set(['malformed', 'unknown', 'wrong_secret']);

/** Why a REST request was refused before any route ran; `api_key_id` names a key that was presented. */
export type ApiAuthRefusal = DeviceRequestRefusal & { api_key_id?: string };

const ALL: readonly Permission[] = Permission.options;
/** What every credential but an owner's or admin's user token (or a key given it) may do. */
const ALL_BUT_MANAGE: readonly Permission[] = ALL.filter((permission) => permission !== 'api_keys:manage');

/**
 * The permissions of a user token in an organization where the user has `role`.
 *
 * @example
 * permissionsOfRole('member'); // ['usage:read', 'shares:write', 'telemetry:write', 'settings:read']
 */
export function permissionsOfRole(role: OrganizationRole): Permission[] {
  return [...(role === 'owner' || role === 'admin' ? ALL : ALL_BUT_MANAGE)];
}

/**
 * Authenticates a REST request: an API key (`authorization: Bearer ctk_<id>_<secret>`, no other
 * header) when the bearer has that prefix, else a device or user token or a static credential
 * exactly as the settings routes take it (with `x-device-id` and `x-tenant-id`). A user token
 * counts only while its user is a member of the token's organization. A wrong key (or device
 * credential) counts against its address and its id; while they are locked out the answer is
 * `throttled` before the credential is looked at.
 *
 * @example
 * const verdict = await authenticateApiRequest(req, { device: auth, keys: hub.api.keys, users, now: () => clock.now() });
 * if (verdict.ok) verdict.caller.permissions.includes('usage:read');
 */
export async function authenticateApiRequest(
  req: IncomingMessage,
  parts: ApiAuthParts,
): Promise<{ ok: true; caller: ApiCaller } | ApiAuthRefusal> {
  const presented = apiKeyOf(req);
  if (presented !== undefined) {
    const keyId = apiKeyIdOf(presented);
    const attempt: Attempt = { kind: 'api_key', address: clientAddress(req), ...(keyId !== undefined && { id: keyId }) };
    const admitted = await parts.throttle.admit(attempt);
    if (!admitted.ok)
      return {
        ok: false,
        error: 'throttled',
        reason: 'too_many_attempts',
        retryAfterMs: admitted.retryAfterMs,
        ...(keyId !== undefined && { api_key_id: keyId }),
      };
    const verdict = await parts.keys.authenticate(presented, parts.now());
    if (!verdict.ok) {
      if (COUNTED_KEY_REFUSALS.has(verdict.reason)) await parts.throttle.fail(attempt);
      return {
        ok: false,
        error: 'unauthorized',
        reason: `api_key_${verdict.reason}`,
        ...(verdict.id !== undefined && { api_key_id: verdict.id }),
      };
    }
    await parts.throttle.succeed(attempt);
    const { id, tenant_id, permissions } = verdict.key;
    return { ok: true, caller: { kind: 'api_key', tenant_id, api_key_id: id, permissions, bucket: `key:${id}` } };
  }
  const device = await authenticateDeviceRequest(req, parts.device);
  if (!device.ok) return device;
  const { kind, tenant_id, device_id, user_id, jti } = device;
  const bucket = jti === undefined ? `static:${tenant_id}\u0000${device_id}` : `jti:${jti}`;
  if (kind !== 'user') return { ok: true, caller: { kind, tenant_id, device_id, permissions: [...ALL_BUT_MANAGE], bucket } };
  const user = parts.users.find((candidate) => candidate.user_id === user_id);
  const organization = user?.organizations.find((org) => org.id === tenant_id);
  if (!user || !organization || user_id === undefined) return { ok: false, error: 'unauthorized', reason: 'not_a_member' };
  const organizations = user.organizations.map(({ id, name, role }) => ({ id, name, role }));
  return {
    ok: true,
    caller: { kind, tenant_id, device_id, user_id, permissions: permissionsOfRole(organization.role), organizations, bucket },
  };
}

/**
 * The API key a request presents: its bearer when that starts with `ctk_`.
 *
 * @example
 * apiKeyOf(req); // 'ctk_3f9a0c1d2e4b5a69_…' for `authorization: Bearer ctk_3f9a0c1d2e4b5a69_…`
 */
export function apiKeyOf(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  return bearer?.startsWith('ctk_') ? bearer : undefined;
}
