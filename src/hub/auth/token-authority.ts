import { randomUUID } from 'node:crypto';
import { type CryptoKey, errors, type JSONWebKeySet, type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { TokenError } from '../core/errors.ts';
import type { SigningKeyPair } from '../core/signing-key-pair.ts';
import { MemorySigningKeys, type SigningKeys, TOKEN_ALG } from './signing-keys.ts';

/** The claims of a hub-issued device token. Times are JWT NumericDates: seconds since the epoch. */
export interface DeviceTokenClaims {
  iss: string;
  aud: string;
  /** The device id. */
  sub: string;
  /** The tenant id. */
  tenant: string;
  kind: 'device';
  iat: number;
  nbf: number;
  exp: number;
  /** Unique per token; what `revokeToken` names. */
  jti: string;
}

/**
 * The claims of a user access token: what a device gets when a user logs in on it (the device
 * authorization grant). It speaks for the user, in one organization, on one device.
 */
export interface UserTokenClaims {
  iss: string;
  aud: string;
  /** The user id. */
  sub: string;
  /** The organization the user acts in: a tenant id. */
  tenant: string;
  kind: 'user';
  /** The device the user logged in on (the OAuth `client_id`). */
  device: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
}

/** Either kind of hub-issued token. */
export type HubTokenClaims = DeviceTokenClaims | UserTokenClaims;

/** Who a token is issued to: a device, or a user on a device. */
export type TokenSubject =
  | { kind?: 'device'; /** The device id. */ sub: string; tenant: string }
  | { kind: 'user'; /** The user id. */ sub: string; /** The organization id. */ tenant: string; device: string };

/** A freshly signed token. */
export interface IssuedToken {
  /** The compact JWS. A secret: never log it. */
  token: string;
  /** When it expires, milliseconds since the epoch (`exp * 1000`). */
  expiresAt: number;
  jti: string;
}

/** Options of {@link createTokenAuthority}. */
export interface TokenAuthorityOptions {
  issuer: string;
  audience: string;
  /** Token lifetime; rounded down to whole seconds, as `exp` is. At least 1000. */
  lifetimeMs: number;
  /** Clock tolerance for `exp` and `nbf`. */
  leewayMs: number;
  /** The hub's clock. */
  now: () => number;
  /** Checked last, on a token that is otherwise valid. */
  isRevoked?: (claims: HubTokenClaims) => boolean;
  /** Where signing keys come from; see {@link SigningKeyPair}. Default: a fresh pair in memory. */
  generateKeyPair?: () => Promise<SigningKeyPair>;
  /** Where the keys are kept (a hub engine's); `generateKeyPair` is then theirs to use. Default: this process's memory. */
  signingKeys?: SigningKeys;
}

const Common = {
  iss: z.string(),
  aud: z.string(),
  sub: z.string().min(1),
  tenant: z.string().min(1),
  iat: z.number(),
  nbf: z.number(),
  exp: z.number(),
  jti: z.string().min(1),
};
const Claims = z.discriminatedUnion('kind', [
  z.object({ ...Common, kind: z.literal('device') }),
  z.object({ ...Common, kind: z.literal('user'), device: z.string().min(1) }),
]);

/**
 * Issues and verifies the hub's tokens, device tokens and user access tokens: ES256 JWTs
 * signed by a key pair generated in memory (on first use), each key named by a random `kid`.
 * Verification pins the algorithm to ES256, so `alg: none`, HS256 keyed with the public key
 * and RS* tokens are refused before any key is looked at.
 *
 * After {@link TokenAuthority.rotate}, the new key signs and the old one keeps verifying until
 * every token it signed has expired (lifetime + leeway after the rotation); then it is dropped
 * from the key set and from `jwks()`.
 */
export class TokenAuthority {
  readonly #options: TokenAuthorityOptions;
  readonly #keys: SigningKeys;

  constructor(options: TokenAuthorityOptions) {
    this.#options = options;
    const { generateKeyPair, now, lifetimeMs, leewayMs, signingKeys } = options;
    this.#keys = signingKeys ?? new MemorySigningKeys({ generateKeyPair, now, retireAfterMs: lifetimeMs + leewayMs });
  }

  /**
   * Signs a token with the current key: a device token by default, or a user access token
   * with `kind: 'user'` (then `sub` is the user id, `tenant` the organization and `device`
   * the device the user logged in on).
   *
   * @example
   * const { token, expiresAt, jti } = await authority.issue({ sub: 'laptop-1', tenant: 'acme' });
   * const user = await authority.issue({ kind: 'user', sub: 'ada', tenant: 'acme', device: 'laptop-1' });
   */
  async issue(subject: TokenSubject): Promise<IssuedToken> {
    const { sub, tenant } = subject;
    const extra = subject.kind === 'user' ? { kind: 'user', device: subject.device } : { kind: 'device' };
    const { kid, privateKey } = await this.#keys.current();
    const { issuer, audience, lifetimeMs, leewayMs, now } = this.#options;
    const at = now();
    const iat = Math.floor(at / 1000);
    // Rounded down so that no token outlives lifetimeMs: key retirement counts on it.
    const exp = Math.floor((at + lifetimeMs) / 1000);
    const jti = randomUUID();
    const token = await new SignJWT({ tenant, ...extra })
      .setProtectedHeader({ alg: TOKEN_ALG, kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(sub)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(privateKey);
    this.#keys.signed(kid, exp * 1000 + leewayMs);
    return { token, expiresAt: exp * 1000, jti };
  }

  /**
   * Verifies a token and checks that it speaks for `expected`: a device token whose `sub` is
   * the device, or a user token whose `device` is the device; either way of the tenant.
   * Resolves with its claims; rejects with a {@link TokenError}, never with anything else.
   *
   * @example
   * const claims = await authority.verify(connect.token, { tenant: connect.tenant_id, device: connect.device_id });
   * claims.exp; // seconds since the epoch
   */
  async verify(token: string, expected: { tenant: string; device: string }): Promise<HubTokenClaims> {
    try {
      const claims = await this.#decode(token);
      if (claims.tenant !== expected.tenant) throw new TokenError('wrong_tenant');
      if (claims.kind === 'device' && claims.sub !== expected.device) throw new TokenError('wrong_subject');
      if (claims.kind === 'user' && claims.device !== expected.device) throw new TokenError('wrong_device');
      if (this.#options.isRevoked?.(claims)) throw new TokenError('revoked');
      return claims;
    } catch (error) {
      throw toTokenError(error);
    }
  }

  /**
   * Verifies a user access token on its own, for APIs a user calls with it (`GET /v1/me`).
   * A device token is refused as `malformed`. Rejects with a {@link TokenError}.
   *
   * @example
   * const { sub: userId, tenant: organization } = await authority.verifyUser(bearer);
   */
  async verifyUser(token: string): Promise<UserTokenClaims> {
    try {
      const claims = await this.#decode(token);
      if (claims.kind !== 'user') throw new TokenError('malformed', 'malformed: not a user token');
      if (this.#options.isRevoked?.(claims)) throw new TokenError('revoked');
      return claims;
    } catch (error) {
      throw toTokenError(error);
    }
  }

  /** Signature, algorithm, issuer, audience, times and claim shapes; not who the token is for. */
  async #decode(token: string): Promise<HubTokenClaims> {
    const { issuer, audience, leewayMs, now } = this.#options;
    const { payload } = await jwtVerify(token, this.#resolveKey, {
      algorithms: [TOKEN_ALG],
      issuer,
      audience,
      clockTolerance: leewayMs / 1000,
      currentDate: new Date(now()),
      requiredClaims: ['sub', 'iat', 'nbf', 'exp', 'jti'],
    });
    const parsed = Claims.safeParse(payload);
    if (!parsed.success) throw new TokenError('malformed', 'malformed: the claims are not those of a hub token');
    return parsed.data;
  }

  /**
   * Makes a new key sign from now on and retires the current one. Resolves with the new `kid`.
   *
   * @example
   * const kid = await authority.rotate();
   * (await authority.jwks()).keys.map((key) => key.kid); // [oldKid, kid] until the old tokens expire
   */
  rotate(): Promise<string> {
    return this.#keys.rotate();
  }

  /**
   * The public keys that verify tokens now, as a JSON Web Key Set.
   *
   * @example
   * await authority.jwks(); // { keys: [{ kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' }] }
   */
  jwks(): Promise<JSONWebKeySet> {
    return this.#keys.jwks();
  }

  readonly #resolveKey = (header: JWTHeaderParameters): CryptoKey => {
    const key = typeof header.kid === 'string' ? this.#keys.verificationKey(header.kid) : undefined;
    if (!key) throw new TokenError('unknown_key');
    return key;
  };
}

/**
 * Creates a token authority. No key exists until the first `issue`, `jwks` or `rotate`.
 *
 * @example
 * const authority = createTokenAuthority({
 *   issuer: 'cloudtether-hub', audience: 'cloudtether', lifetimeMs: 900_000, leewayMs: 5_000, now: Date.now,
 * });
 * const { token } = await authority.issue({ sub: 'laptop-1', tenant: 'acme' });
 * await authority.verify(token, { tenant: 'acme', device: 'laptop-1' });
 */
export function createTokenAuthority(options: TokenAuthorityOptions): TokenAuthority {
  return new TokenAuthority(options);
}

/** Maps whatever jose (or a claim check) threw to one typed code. */
function toTokenError(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  if (error instanceof errors.JWTExpired) return new TokenError('expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'check_failed') {
      if (error.claim === 'nbf') return new TokenError('not_yet_valid');
      if (error.claim === 'iss') return new TokenError('wrong_issuer');
      if (error.claim === 'aud') return new TokenError('wrong_audience');
    }
    return new TokenError('malformed', `malformed: claim '${error.claim}' is ${error.reason === 'missing' ? 'missing' : 'invalid'}`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenError('unsupported_alg');
  if (error instanceof errors.JWSSignatureVerificationFailed) return new TokenError('bad_signature');
  // JWSInvalid, JWTInvalid, a TypeError on garbage input, …: not a token we can read.
  return new TokenError('malformed');
}
