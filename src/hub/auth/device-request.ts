import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { clientAddress } from '../../http/client-address.ts';
import { ConnectMessage } from '../../protocol/index.ts';
import type { ThrottledVerdict } from './credential-check.ts';

/** A device's HTTP request, authenticated: who sent it, and the user when it came with a user token. */
export interface DeviceCaller {
  device_id: string;
  tenant_id: string;
  user_id?: string;
  /** The credential: a hub device token, a hub user token, or `staticToken` / `authenticate`. */
  kind: 'device' | 'user' | 'static';
  /** The hub token's `jti` (not for a static credential). */
  jti?: string;
}

/** What checks a device's HTTP credential: the same checks, and the same throttle, as a `connect`. */
export interface DeviceRequestAuth {
  /** `address`: where the request came from, for the throttle of failed credentials. */
  checkCredential(token: string, who: { device_id: string; tenant_id: string }, address: string): Promise<ThrottledVerdict>;
  isRevoked(tenantId: string, deviceId: string, jti?: string): boolean;
}

/**
 * Why a device request was refused: `unauthorized` (no, bad or revoked credential), `unavailable`
 * (`authenticate` threw) or `throttled` (too many failed attempts: `retryAfterMs` says how long
 * until the next one is looked at).
 */
export type DeviceRequestRefusal = {
  ok: false;
  error: 'unauthorized' | 'unavailable' | 'throttled';
  reason: string;
  retryAfterMs?: number;
};

// The headers carry what `connect` does, within the same bounds.
const Headers = z.object({
  token: ConnectMessage.shape.token,
  device_id: ConnectMessage.shape.device_id,
  tenant_id: ConnectMessage.shape.tenant_id,
});

/**
 * Authenticates a device's HTTP request (`authorization: Bearer <token>`, `x-device-id`,
 * `x-tenant-id`) exactly as a `connect` is: the credential check, then revocation of the device
 * and of the token's `jti`. The reason of a refusal names a check, never the token.
 *
 * @example
 * const caller = await authenticateDeviceRequest(req, auth);
 * if (!caller.ok) return reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
 * caller.tenant_id; // 'acme'
 */
export async function authenticateDeviceRequest(
  req: IncomingMessage,
  auth: DeviceRequestAuth,
): Promise<({ ok: true } & DeviceCaller) | DeviceRequestRefusal> {
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const headers = Headers.safeParse({ token: bearer, device_id: req.headers['x-device-id'], tenant_id: req.headers['x-tenant-id'] });
  if (!headers.success) return { ok: false, error: 'unauthorized', reason: 'missing_credentials' };
  const { token, ...who } = headers.data;
  let verdict: ThrottledVerdict;
  try {
    verdict = await auth.checkCredential(token, who, clientAddress(req));
  } catch {
    return { ok: false, error: 'unavailable', reason: 'authenticate_threw' };
  }
  if (!verdict.ok && verdict.code === 'too_many_attempts')
    return { ok: false, error: 'throttled', reason: verdict.code, retryAfterMs: verdict.retryAfterMs };
  if (!verdict.ok) return { ok: false, error: 'unauthorized', reason: verdict.code };
  const claims = verdict.credential.via === 'token' ? verdict.credential.claims : undefined;
  if (auth.isRevoked(who.tenant_id, who.device_id, claims?.jti)) return { ok: false, error: 'unauthorized', reason: 'revoked' };
  const kind = claims?.kind ?? 'static';
  return { ok: true, ...who, kind, ...(claims && { jti: claims.jti }), ...(claims?.kind === 'user' && { user_id: claims.sub }) };
}
