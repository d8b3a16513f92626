import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { clientAddress } from '../../http/client-address.ts';
import { reply } from '../../http/reply.ts';
import { pathOf, readBody } from '../../http/request.ts';
import { safeEqual } from '../../http/safe-equal.ts';
import type { Logger } from '../../log/logger.ts';
import type { DeviceCredential } from '../core/options.ts';
import type { FailureThrottle } from '../throttle/failure-throttle.ts';
import { replyThrottled } from '../throttle/throttled-reply.ts';
import { type FaultGate, NO_STORE } from './fault-gate.ts';
import type { TokenAuthority } from './token-authority.ts';

/** Where devices trade their credential for an access token. */
export const DEVICE_TOKEN_PATH = '/v1/device-token';
/** Where verifiers find the hub's public keys. */
export const JWKS_PATH = '/.well-known/jwks.json';

export type { TokenEndpointBehaviour } from './fault-gate.ts';

/** What the token routes need from the hub. */
export interface TokenEndpointSource {
  authority: TokenAuthority;
  credentials: readonly DeviceCredential[];
  isDeviceRevoked(tenantId: string, deviceId: string): boolean;
  /** The hub's clock. */
  now(): number;
  logger: Logger;
  /** The fault behaviour (`hub.faults.tokenEndpoint`), shared with `POST /v1/oauth/token`. */
  gate: FaultGate;
  /** Slows down wrong secrets, per address and per device (`device_secret`). */
  throttle: FailureThrottle;
}

/** The token routes: `POST /v1/device-token` and `GET /.well-known/jwks.json`. */
export interface TokenEndpoint {
  /** Takes the request when its path is one of the token routes; returns false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/** A device-token request is a few ids and a secret: anything much larger is not one. */
const MAX_BODY_BYTES = 16 * 1024;

const TokenRequest = z.object({
  device_id: z.string().min(1).max(256),
  tenant_id: z.string().min(1).max(256),
  credential: z.string().min(1).max(4096),
});

/**
 * Creates the token routes.
 *
 * - `POST /v1/device-token` with `{ device_id, tenant_id, credential }` → 200
 *   `{ access_token, token_type: 'Bearer', expires_in, expires_at }`; 400
 *   `{ error: 'invalid_request' }` for a malformed body; 401 `{ error: 'invalid_credentials' }`
 *   when no credential of the tenant (and device) matches; 401 `{ error: 'revoked' }` for a
 *   revoked device; 429 `{ error: 'too_many_attempts', retry_after_s }` with `retry-after` while
 *   the address (or the device, from an address it never got a token from) is locked out after
 *   failed attempts (src/hub/throttle/failure-throttle.ts).
 * - `GET /.well-known/jwks.json` → the public keys, open to anyone.
 *
 * @example
 * const tokens = createTokenEndpoint({ authority, credentials, isDeviceRevoked: () => false, now: Date.now, logger, gate: createFaultGate(logger), throttle });
 * http.createServer((req, res) => tokens.handle(req, res) || admin(req, res));
 */
export function createTokenEndpoint(source: TokenEndpointSource): TokenEndpoint {
  const { authority, logger, gate, throttle } = source;

  async function issue(res: ServerResponse, request: z.infer<typeof TokenRequest>, address: string): Promise<void> {
    const who = { device_id: request.device_id, tenant_id: request.tenant_id };
    const attempt = { kind: 'device_secret', address, id: `${request.tenant_id}/${request.device_id}` } as const;
    const admitted = await throttle.admit(attempt);
    if (!admitted.ok) return replyThrottled(res, admitted.retryAfterMs, NO_STORE);
    if (!matchesCredential(source.credentials, request)) {
      await throttle.fail(attempt);
      logger.warn({ ...who, reason: 'invalid_credentials' }, 'device token refused');
      return reply(res, 401, { error: 'invalid_credentials' }, NO_STORE);
    }
    await throttle.succeed(attempt);
    // Only after the credential checked out: revocation is nobody else's business.
    if (source.isDeviceRevoked(request.tenant_id, request.device_id)) {
      logger.warn({ ...who, reason: 'revoked' }, 'device token refused');
      return reply(res, 401, { error: 'revoked' }, NO_STORE);
    }
    const { token, expiresAt, jti } = await authority.issue({ sub: request.device_id, tenant: request.tenant_id });
    logger.info({ ...who, jti, expires_at: expiresAt }, 'device token issued');
    reply(
      res,
      200,
      {
        access_token: token,
        token_type: 'Bearer',
        expires_in: Math.max(0, Math.round((expiresAt - source.now()) / 1000)),
        expires_at: expiresAt,
      },
      NO_STORE,
    );
  }

  function answer(res: ServerResponse, text: string | undefined, address: string): void {
    const request = text === undefined ? undefined : TokenRequest.safeParse(parseJson(text));
    if (!request?.success) return reply(res, 400, { error: 'invalid_request' }, NO_STORE);
    issue(res, request.data, address).catch((error: unknown) => {
      // The error's name only: nothing here should hold a secret, and nothing needs to.
      logger.error({ error: error instanceof Error ? error.name : typeof error }, 'device token endpoint failed');
      reply(res, 500, { error: 'internal' }, NO_STORE);
    });
  }

  return {
    handle(req, res) {
      const path = pathOf(req.url);
      if (path === JWKS_PATH) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          reply(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
        } else {
          authority.jwks().then(
            (jwks) => reply(res, 200, jwks),
            () => reply(res, 500, { error: 'internal' }),
          );
        }
        return true;
      }
      if (path !== DEVICE_TOKEN_PATH) return false;
      if (req.method !== 'POST') {
        reply(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
        return true;
      }
      void readBody(req, MAX_BODY_BYTES).then((text) =>
        gate.pass(res, () => answer(res, text, clientAddress(req)), { held: 'device token request held (fault: hang)' }),
      );
      return true;
    },
  };
}

/**
 * Whether a credential of the request's tenant (and device, for device-bound ones) matches.
 * Every candidate is compared, so the time taken does not tell which one matched.
 */
function matchesCredential(credentials: readonly DeviceCredential[], request: z.infer<typeof TokenRequest>): boolean {
  let matched = false;
  for (const candidate of credentials) {
    if (candidate.tenant_id !== request.tenant_id) continue;
    if (candidate.device_id !== undefined && candidate.device_id !== request.device_id) continue;
    if (safeEqual(request.credential, candidate.secret)) matched = true;
  }
  return matched;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
