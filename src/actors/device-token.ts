import { decodeJwt } from 'jose/jwt/decode';
import { fromPromise } from 'xstate';
import { HttpError, type HttpAdapter, type HttpResponse } from '../adapters/http.ts';
import { retryAfterMs } from '../adapters/retry-after.ts';
import { AuthFetchError, type TokenGrant } from '../machines/auth.ts';
import { isNetworkFailureReason } from '../util/network-failure-reason.ts';

export interface DeviceTokenDeps {
  http: HttpAdapter;
  /** The hub's token endpoint, e.g. `http://127.0.0.1:7070/v1/device-token`. */
  tokenUrl: string;
  deviceId: string;
  tenantId: string;
  /** The device credential (an enrollment secret or API key). Never logged. */
  credential: string;
  timeoutMs?: number;
}

/**
 * The `fetchToken` actor for device mode: proves the device's identity to the hub's token
 * endpoint with its credential and returns a short-lived JWT, whose expiry is read from the
 * token's own `exp`. Every failure is an {@link AuthFetchError} of a kind the auth machine
 * classifies: 401/403 `rejected` (or `revoked` when the hub says so), 429 `rate_limited` with
 * `Retry-After`, 5xx `server`, no answer `timeout` or `network`, a body that is not a token
 * `invalid_response`.
 *
 * @example
 * const auth = authMachine.provide({ actors: { fetchToken: createDeviceTokenActor({ http: fetchHttpAdapter, tokenUrl, deviceId, tenantId, credential }) } });
 */
export function createDeviceTokenActor(deps: DeviceTokenDeps) {
  return fromPromise<TokenGrant, { attempt: 'initial' | 'refresh' }>(async ({ signal }) => {
    let response: HttpResponse;
    try {
      response = await deps.http.request({
        method: 'POST',
        url: deps.tokenUrl,
        json: { device_id: deps.deviceId, tenant_id: deps.tenantId, credential: deps.credential },
        timeoutMs: deps.timeoutMs ?? 10_000,
        signal,
      });
    } catch (error) {
      throw fetchFailure(error);
    }
    return grantFrom(response);
  });
}

/** A request that got no answer, as the failure the auth machine classifies. */
export function fetchFailure(error: unknown): AuthFetchError {
  if (!(error instanceof HttpError)) return new AuthFetchError('network', (error as Error).message);
  const kind = error.kind === 'timeout' || error.kind === 'invalid_response' || isNetworkFailureReason(error.kind) ? error.kind : 'network';
  return new AuthFetchError(kind, error.message);
}

/** A 429 or 5xx: retried later, never sooner than the server's `Retry-After`. */
export function busyFailure({ status, headers }: HttpResponse): AuthFetchError {
  return new AuthFetchError(
    status === 429 ? 'rate_limited' : 'server',
    `token endpoint answered ${status}`,
    retryAfterMs(headers['retry-after']),
  );
}

/** Reads a token endpoint's response into a grant, or the classified failure. */
export function grantFrom(response: HttpResponse): TokenGrant {
  const { status, body } = response;
  const code = (body as { error?: unknown } | undefined)?.error;
  if (status === 401 || status === 403) {
    throw new AuthFetchError(
      code === 'revoked' ? 'revoked' : 'rejected',
      `token endpoint refused the credential (${status} ${String(code ?? '')})`.trim(),
    );
  }
  if (status === 429 || status >= 500) throw busyFailure(response);
  if (status !== 200) throw new AuthFetchError('invalid_response', `token endpoint answered ${status}`);
  const token = (body as { access_token?: unknown } | undefined)?.access_token;
  if (typeof token !== 'string' || token.length === 0) throw new AuthFetchError('invalid_response', 'token endpoint sent no access_token');
  return { token, ...tokenTiming(token, (body as { expires_in?: unknown }).expires_in) };
}

/**
 * A token's expiry and lifetime: from the JWT's `exp` and `iat`, else from the response's
 * `expires_in` (an opaque token). The auth machine counts the lifetime from receipt.
 */
export function tokenTiming(token: string, expiresIn?: unknown): { expiresAt: number | undefined; lifetimeMs: number | undefined } {
  let exp: number | undefined;
  let iat: number | undefined;
  try {
    const claims = decodeJwt(token);
    exp = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
    iat = typeof claims.iat === 'number' ? claims.iat * 1000 : undefined;
  } catch {
    // not a JWT
  }
  // NumericDates are whole seconds: `iat` and `exp` may each be truncated, so up to a second of
  // `exp - iat` may already be gone on arrival. Count on the shorter lifetime.
  const fromResponse = typeof expiresIn === 'number' && expiresIn > 0 ? conservative(expiresIn * 1000) : undefined;
  const lifetimeMs = exp !== undefined && iat !== undefined && exp > iat ? conservative(exp - iat) : fromResponse;
  return { expiresAt: exp, lifetimeMs };
}

function conservative(lifetimeMs: number): number {
  return Math.max(lifetimeMs / 2, lifetimeMs - 1_000);
}
