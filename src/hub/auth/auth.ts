import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from '../../log/logger.ts';
import { CloseCode } from '../../protocol/index.ts';
import type { OperatorAccess } from '../admin/operator-access.ts';
import { HubError, TokenError } from '../core/errors.ts';
import type { ResolvedHubOptions } from '../core/options.ts';
import type { FailureThrottle } from '../throttle/failure-throttle.ts';
import { COUNTED_REFUSALS, createCredentialCheck, type ThrottledVerdict } from './credential-check.ts';
import { createFaultGate, type FaultGate } from './fault-gate.ts';
import { createOAuthEndpoint, type OAuthEndpoint } from './oauth-endpoint.ts';
import { RevocationList } from './revocations.ts';
import type { MemorySigningKeysOptions, SigningKeys } from './signing-keys.ts';
import { createTokenAuthority, type HubTokenClaims, type IssuedToken, type TokenAuthority } from './token-authority.ts';
import { createTokenEndpoint, type TokenEndpoint } from './token-endpoint.ts';
import type { LoginStore } from './login-store.ts';
import { UserLogins } from './user-logins.ts';

type Who = { device_id: string; tenant_id: string };

/** An open session as a revocation sees it: the hub token it lives on, and how to close it. */
export interface RevocableSession {
  /** The `jti` of the hub-issued token it lives on; undefined for a static credential. */
  readonly tokenId: string | undefined;
  close(code: number, reason: string): void;
}

/** The hub's authenticated sessions, as a revocation looks for those it closes (the hub's open sessions). */
export interface RevocableSessions {
  /** The sessions of a device id, across tenants. */
  withDevice(deviceId: string): Array<{ session: RevocableSession; info: { tenant_id: string } }>;
  all(): Array<{ session: RevocableSession }>;
}

/** What the auth side of a hub works with. */
export interface HubAuthParts {
  options: ResolvedHubOptions;
  /** Revoking closes sessions living on what was revoked. */
  sessions: RevocableSessions;
  /** Slows down failed credentials: `connect`, devices' HTTP requests, the token and OAuth endpoints. */
  throttle: FailureThrottle;
  /** Who may approve device logins (`POST /v1/oauth/approve`). */
  access: Pick<OperatorAccess, 'admit'>;
  // The hub's own methods: an OAuth route does exactly what the same call on the hub does.
  approve(userCode: string, approval: { userId: string; organization?: string }): Promise<void>;
  deny(userCode: string): Promise<void>;
  revokeAccessToken(jti: string): void;
  /** `host:port` of the hub, for a request without a usable `Host` header. */
  fallbackHost(): string;
  /** Told of the access tokens a revoked user login took with it (other hub nodes revoke them too). */
  loginRevoked?(jtis: readonly string[]): void;
  /** Where revocations, signing keys and user logins are kept (the hub engine). Default: this process's memory. */
  stores?: {
    revocations(now: () => number, forgetAfterMs: number): RevocationList;
    signingKeys(options: MemorySigningKeysOptions): SigningKeys;
    logins?: LoginStore | undefined;
  };
}

/**
 * Who may connect, and for how long: the revocation list and, with the `tokens` option, the
 * token authority, the user logins and their HTTP endpoints. A revocation closes the sessions
 * living on what it revoked with `4007 revoked`. Methods the hub exposes are documented there.
 *
 * @example
 * const auth = new HubAuth({ options, sessions, throttle, access, approve, deny, revokeAccessToken, fallbackHost });
 * http.createServer((req, res) => auth.handle(req, res) || admin(req, res));
 */
export class HubAuth {
  /** The fault behaviour of the token endpoints; present with `tokens`. */
  readonly gate: FaultGate | undefined;
  /**
   * Decides a `connect` credential (or a device's HTTP one) from `address`: a hub token first,
   * then `staticToken` or `authenticate`; throttled as a `device_credential` of the device.
   */
  readonly checkCredential: (token: string, who: Who, address: string) => Promise<ThrottledVerdict>;
  readonly #log: Logger;
  readonly #sessions: RevocableSessions;
  readonly #loginRevoked: ((jtis: readonly string[]) => void) | undefined;
  readonly #revocations: RevocationList;
  /** Present when the hub issues tokens (the `tokens` option). */
  readonly #authority: TokenAuthority | undefined;
  readonly #logins: UserLogins | undefined;
  readonly #tokenEndpoint: TokenEndpoint | undefined;
  readonly #oauth: OAuthEndpoint | undefined;

  constructor(parts: HubAuthParts) {
    const { options, sessions, throttle } = parts;
    const { clock, tokens } = options;
    this.#log = options.logger;
    this.#loginRevoked = parts.loginRevoked;
    this.#sessions = sessions;
    const now = () => clock.now();
    // A revoked jti can be forgotten once no token issued before the revocation is still valid.
    const forgetAfterMs = (tokens?.lifetimeMs ?? 0) + (tokens?.leewayMs ?? 0);
    this.#revocations = parts.stores?.revocations(now, forgetAfterMs) ?? new RevocationList(now, forgetAfterMs);
    const authority =
      tokens &&
      createTokenAuthority({
        issuer: tokens.issuer,
        audience: tokens.audience,
        lifetimeMs: tokens.lifetimeMs,
        leewayMs: tokens.leewayMs,
        generateKeyPair: tokens.generateKeyPair,
        now,
        ...(parts.stores && {
          signingKeys: parts.stores.signingKeys({
            generateKeyPair: tokens.generateKeyPair,
            now,
            retireAfterMs: tokens.lifetimeMs + tokens.leewayMs,
          }),
        }),
        // A user token speaks for its user on one device: that device's revocation counts.
        isRevoked: (claims) => this.isRevoked(claims.tenant, claims.kind === 'user' ? claims.device : claims.sub, claims.jti),
      });
    this.#authority = authority;
    const isDeviceRevoked = (tenantId: string, deviceId: string) => this.#revocations.isDeviceRevoked(tenantId, deviceId);
    const gate = tokens && createFaultGate(this.#log);
    this.gate = gate;
    const logins =
      tokens &&
      new UserLogins({
        users: tokens.users,
        now,
        refreshTokenLifetimeMs: tokens.refreshTokenLifetimeMs,
        deviceCodeLifetimeMs: tokens.deviceCodeLifetimeMs,
        pollIntervalS: tokens.pollIntervalS,
        accessTokenGraceMs: tokens.leewayMs,
        store: parts.stores?.logins,
      });
    this.#logins = logins;
    this.#tokenEndpoint =
      authority &&
      gate &&
      createTokenEndpoint({ authority, credentials: tokens.deviceCredentials, isDeviceRevoked, now, logger: this.#log, gate, throttle });
    this.#oauth =
      authority &&
      gate &&
      logins &&
      createOAuthEndpoint({
        authority,
        logins,
        gate,
        throttle,
        access: parts.access,
        isDeviceRevoked,
        approve: (userCode, approval) => parts.approve(userCode, approval),
        deny: (userCode) => parts.deny(userCode),
        revokeFamily: (familyId, reason) => this.#revokeLogin(familyId, reason),
        revokeAccessToken: (jti) => parts.revokeAccessToken(jti),
        fallbackHost: () => parts.fallbackHost(),
        now,
        logger: this.#log,
      });
    const check = createCredentialCheck({ authority, fallback: options.authenticate });
    this.checkCredential = async (token, who, address) => {
      const attempt = { kind: 'device_credential', address, id: `${who.tenant_id}/${who.device_id}` } as const;
      const gate = await throttle.admit(attempt);
      if (!gate.ok) return { ok: false, code: 'too_many_attempts', retryAfterMs: gate.retryAfterMs };
      const verdict = await check(token, who);
      if (verdict.ok) await throttle.succeed(attempt);
      else if (COUNTED_REFUSALS.has(verdict.code)) await throttle.fail(attempt);
      return verdict;
    };
  }

  /** Whether the device, or the token `jti`, is revoked now. */
  isRevoked(tenantId: string, deviceId: string, jti?: string): boolean {
    return this.#revocations.isDeviceRevoked(tenantId, deviceId) || (jti !== undefined && this.#revocations.isTokenRevoked(jti));
  }

  /** Verifies a hub-issued token for `auth_refresh`; rejects with a {@link TokenError}. */
  verifyToken(token: string, who: Who): Promise<HubTokenClaims> {
    return this.#authority
      ? this.#authority.verify(token, { tenant: who.tenant_id, device: who.device_id })
      : Promise.reject(new TokenError('unknown_key', 'unknown_key: this hub issues no tokens'));
  }

  /** Takes the request when it is a token or OAuth route; returns false otherwise (always, without `tokens`). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    return !!this.#tokenEndpoint?.handle(req, res) || !!this.#oauth?.handle(req, res);
  }

  issueToken(deviceId: string, tenantId: string): Promise<IssuedToken> {
    return this.#requireAuthority().issue({ sub: deviceId, tenant: tenantId });
  }

  jwks(): Promise<JSONWebKeySet> {
    return this.#requireAuthority().jwks();
  }

  async rotateKeys(): Promise<string> {
    const kid = await this.#requireAuthority().rotate();
    this.#log.info({ kid }, 'signing key rotated');
    return kid;
  }

  /** Revokes a device id in one tenant, or in all of them; returns how many sessions it closed. */
  revokeDevice(deviceId: string, tenantId: string | undefined): number {
    this.#revocations.revokeDevice(deviceId, tenantId);
    const open = this.#sessions.withDevice(deviceId).filter(({ info }) => tenantId === undefined || info.tenant_id === tenantId);
    for (const { session } of open) session.close(CloseCode.revoked, 'revoked');
    this.#log.warn({ device_id: deviceId, tenant_id: tenantId, closed: open.length }, 'device revoked');
    return open.length;
  }

  unrevokeDevice(deviceId: string, tenantId: string | undefined): void {
    this.#revocations.unrevokeDevice(deviceId, tenantId);
    this.#log.info({ device_id: deviceId, tenant_id: tenantId }, 'device revocation lifted');
  }

  /** Revokes a token by `jti`; returns how many sessions (living on it) it closed. */
  revokeToken(jti: string): number {
    this.#revocations.revokeToken(jti);
    const open = this.#sessions.all().filter(({ session }) => session.tokenId === jti);
    for (const { session } of open) session.close(CloseCode.revoked, 'revoked');
    this.#log.warn({ jti, closed: open.length }, 'token revoked');
    return open.length;
  }

  async approveDeviceLogin(userCode: string, approval: { userId: string; organization?: string }): Promise<void> {
    const approved = await this.#requireLogins().approve(userCode, approval);
    this.#log.info({ login: approved.loginId, user_id: approval.userId, organization: approved.organization }, 'device login approved');
  }

  async denyDeviceLogin(userCode: string): Promise<void> {
    const { loginId } = await this.#requireLogins().deny(userCode);
    this.#log.info({ login: loginId }, 'device login denied');
  }

  /**
   * Revokes a login (a refresh-token family): its refresh tokens stop working, its access
   * tokens are refused, and sessions living on one close with `4007 revoked`.
   */
  async #revokeLogin(familyId: string, reason: 'logout' | 'refresh_token_replay'): Promise<number> {
    const revoked = await this.#logins?.revokeFamily(familyId);
    if (!revoked) return 0;
    const jtis = new Set(revoked.accessTokens);
    for (const jti of jtis) this.#revocations.revokeToken(jti);
    if (jtis.size > 0) this.#loginRevoked?.([...jtis]);
    const open = this.#sessions.all().filter(({ session }) => session.tokenId !== undefined && jtis.has(session.tokenId));
    for (const { session } of open) session.close(CloseCode.revoked, 'revoked');
    const line = { family: familyId, user_id: revoked.userId, device_id: revoked.clientId, reason, closed: open.length };
    if (reason === 'logout') this.#log.info(line, 'user login revoked');
    else this.#log.warn(line, 'user login revoked: a rotated refresh token was presented again');
    return open.length;
  }

  #requireAuthority(): TokenAuthority {
    if (!this.#authority) throw new HubError('tokens_disabled', 'this hub issues no tokens: create it with the tokens option');
    return this.#authority;
  }

  #requireLogins(): UserLogins {
    if (!this.#logins) throw new HubError('tokens_disabled', 'this hub has no user logins: create it with the tokens option');
    return this.#logins;
  }
}
