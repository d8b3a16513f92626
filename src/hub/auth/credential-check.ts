import { TokenError, type TokenErrorCode } from '../core/errors.ts';
import type { Authenticate } from '../core/options.ts';
import type { HubTokenClaims, TokenAuthority } from './token-authority.ts';

/** How a `connect` credential was accepted. */
export type Credential =
  /** A hub-issued JWT (device or user token): the session expires with it and may refresh it in band. */
  | { via: 'token'; claims: HubTokenClaims }
  /** `staticToken` or `authenticate`: the session does not expire. */
  | { via: 'static' };

/**
 * `refused`: `staticToken` or `authenticate` said no, on a hub that issues no tokens. On a hub
 * that does, a credential that is neither a hub token nor accepted by the fallback is refused
 * with the reason the token check gave (`malformed`, `unknown_key`, `unsupported_alg`).
 */
export type CredentialVerdict = { ok: true; credential: Credential } | { ok: false; code: TokenErrorCode | 'refused' };

/**
 * A {@link CredentialVerdict}, or `too_many_attempts`: the caller's address (or, from an address
 * it never succeeded from, the device) is locked out after failed attempts, and the credential
 * was not looked at (src/hub/throttle/failure-throttle.ts).
 */
export type ThrottledVerdict = CredentialVerdict | { ok: false; code: 'too_many_attempts'; retryAfterMs: number };

/**
 * Refusals that count as a failed attempt: a credential that is wrong, not one that is merely
 * stale. An expired, not yet valid or revoked hub token is what a real device presents in the
 * normal course of things; counting it would lock out a device's own address.
 */
export const COUNTED_REFUSALS: ReadonlySet<TokenErrorCode | 'refused'> = new Set([
  'refused',
  'malformed',
  'bad_signature',
  'wrong_issuer',
  'wrong_audience',
  'wrong_tenant',
  'wrong_subject',
  'wrong_device',
  'unknown_key',
  'unsupported_alg',
]);

/** What a credential check consults. */
export interface CredentialSource {
  authority: TokenAuthority | undefined;
  /** `staticToken` or `authenticate`. */
  fallback: Authenticate | undefined;
}

/**
 * Token errors that mean "not one of the hub's tokens" (as opposed to "one of ours, but
 * refused"): only those may go on to the fallback. An expired or revoked hub token must not
 * get a second chance there.
 */
const NOT_OURS: ReadonlySet<TokenErrorCode> = new Set(['malformed', 'unknown_key', 'unsupported_alg']);

/**
 * Decides a `connect` credential: a hub-issued JWT first (when the hub issues tokens), then
 * `staticToken` or `authenticate` for a credential that is not one. A hub token of a revoked
 * device or a revoked `jti` is refused here; the session checks a static credential's device
 * itself, once the credential checked out. Rejects only when `authenticate` throws.
 *
 * When the fallback says no as well, the refusal names the token check's reason, as on a hub
 * without a fallback: the answer to a credential that is neither does not depend on whether a
 * static token is configured (so it does not tell a caller that one is), and a device sent an
 * unreadable token learns why (docs/protocol.md, "On `connect`").
 *
 * @example
 * const check = createCredentialCheck({ authority, fallback: undefined });
 * const verdict = await check(connect.token, { device_id: connect.device_id, tenant_id: connect.tenant_id });
 * if (!verdict.ok) refuse(verdict.code); // e.g. 'expired'
 */
export function createCredentialCheck(
  source: CredentialSource,
): (token: string, who: { device_id: string; tenant_id: string }) => Promise<CredentialVerdict> {
  return async (token, who) => {
    const { authority, fallback } = source;
    let notOurs: TokenErrorCode | undefined;
    if (authority) {
      try {
        const claims = await authority.verify(token, { tenant: who.tenant_id, device: who.device_id });
        return { ok: true, credential: { via: 'token', claims } };
      } catch (error) {
        const code = error instanceof TokenError ? error.code : 'malformed';
        if (!fallback || !NOT_OURS.has(code)) return { ok: false, code };
        notOurs = code;
      }
    }
    // The fallback compares in constant time (`staticToken`: safeEqual) and is asked in every case.
    if (!fallback || !(await fallback(token, who))) return { ok: false, code: notOurs ?? 'refused' };
    return { ok: true, credential: { via: 'static' } };
  };
}
