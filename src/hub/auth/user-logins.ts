import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { HubError } from '../core/errors.ts';
import type { HubUser, UserOrganization } from '../core/options.ts';

/** Letters no one confuses with a digit or with each other, as RFC 8628 §6.1 suggests. */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;
/** RFC 8628 §3.5: each `slow_down` adds this much to the interval of that device code. */
const SLOW_DOWN_STEP_S = 5;
/** Memory hygiene only: expiry is checked on every lookup. */
const PRUNE_EVERY_MS = 60_000;

/** Errors of the device-code grant (RFC 8628 §3.5, RFC 6749 §5.2). */
export type DeviceGrantError = 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token' | 'invalid_grant';
/** Errors of the refresh-token grant (RFC 6749 §5.2). */
export type RefreshGrantError = 'invalid_grant' | 'invalid_scope';

/** A started device authorization, as `POST /v1/oauth/device_authorization` answers it. */
export interface DeviceAuthorization {
  /** Secret: only the device may hold it. Never logged. */
  deviceCode: string;
  /** What the user types, `WDJB-MJHT`. Never logged. */
  userCode: string;
  expiresInS: number;
  intervalS: number;
  /** A random id of this login attempt, for logs. */
  loginId: string;
}

/** Who a granted login is for. */
export interface LoginSubject {
  userId: string;
  clientId: string;
  organization: UserOrganization;
  organizations: UserOrganization[];
  /** The refresh-token family (one per login), for logs and revocation. */
  familyId: string;
}

/**
 * A grant checked and ready: the caller signs an access token, then commits. A refusal names
 * the login or family when there is one, for logs; `replay` says a rotated refresh token was
 * presented: the caller must revoke the family (`revokeFamily`).
 */
export type GrantCheck<E extends string> =
  | { ok: true; subject: LoginSubject; commit(accessToken: { jti: string; expiresAt: number }): GrantCommit }
  | { ok: false; error: E; familyId?: string; loginId?: string; replay?: true };

/**
 * A committed grant: the new refresh token, or (when the state changed while the access token
 * was being signed) a refusal; then the access token must be revoked.
 */
export type GrantCommit = { ok: true; refreshToken: string } | { ok: false; error: 'invalid_grant' };

/** What a revoked family leaves to clean up: the access tokens it issued that may still live. */
export interface RevokedFamily {
  familyId: string;
  userId: string;
  clientId: string;
  accessTokens: string[];
}

/** Options of {@link UserLogins}. */
export interface UserLoginsOptions {
  users: readonly HubUser[];
  now: () => number;
  refreshTokenLifetimeMs: number;
  deviceCodeLifetimeMs: number;
  pollIntervalS: number;
  /** How long after its `exp` an access token may still be accepted (the leeway). */
  accessTokenGraceMs: number;
}

interface PendingLogin {
  loginId: string;
  clientId: string;
  deviceCodeHash: string;
  userCodeHash: string;
  expiresAt: number;
  intervalS: number;
  lastPollAt: number | undefined;
  decision: { approved: { userId: string; organizationId: string } } | 'denied' | undefined;
}

interface Family {
  id: string;
  userId: string;
  clientId: string;
  organizationId: string;
  /** Hash of the one refresh token that may be used; every other one of the family is rotated. */
  current: string;
  /** Hashes of every refresh token the family issued that has not expired. */
  tokens: Set<string>;
  /** Access tokens it issued: jti → when they stop being accepted. */
  accessTokens: Map<string, number>;
}

interface RefreshRecord {
  family: Family;
  expiresAt: number;
}

/**
 * The hub's user logins: device authorizations waiting for a user (RFC 8628), and refresh
 * tokens with rotation and replay detection (OAuth 2.0 Security BCP §4.14). In memory; device
 * codes, user codes and refresh tokens are kept only as SHA-256 hashes.
 *
 * A login makes a **family**: the refresh token it returns and every one rotated from it.
 * Presenting a refresh token that has already been rotated is taken as theft: the whole family
 * is revoked.
 *
 * @example
 * const logins = new UserLogins({ users, now: Date.now, refreshTokenLifetimeMs, deviceCodeLifetimeMs: 600_000, pollIntervalS: 5, accessTokenGraceMs: 5_000 });
 * const { deviceCode, userCode } = logins.startDeviceAuthorization('laptop-1');
 * logins.approve(userCode, { userId: 'ada' });
 * const check = logins.checkDeviceCode(deviceCode, 'laptop-1');
 * if (check.ok) {
 *   const { jti, expiresAt } = await authority.issue({ kind: 'user', sub: check.subject.userId, tenant: check.subject.organization.id, device: 'laptop-1' });
 *   const committed = check.commit({ jti, expiresAt }); // { ok: true, refreshToken }
 * }
 */
export class UserLogins {
  readonly #options: UserLoginsOptions;
  readonly #users: Map<string, HubUser>;
  readonly #byDeviceCode = new Map<string, PendingLogin>();
  readonly #byUserCode = new Map<string, PendingLogin>();
  readonly #refreshTokens = new Map<string, RefreshRecord>();
  readonly #families = new Map<string, Family>();
  #nextPruneAt = 0;

  constructor(options: UserLoginsOptions) {
    this.#options = options;
    this.#users = new Map(options.users.map((user) => [user.user_id, user]));
  }

  /** A configured user, or undefined. */
  user(userId: string): HubUser | undefined {
    return this.#users.get(userId);
  }

  /** Starts a device authorization for `clientId` (the device id). */
  startDeviceAuthorization(clientId: string): DeviceAuthorization {
    this.#prune();
    const { deviceCodeLifetimeMs, pollIntervalS, now } = this.#options;
    const deviceCode = randomBytes(32).toString('base64url');
    let userCode: string;
    do userCode = newUserCode();
    while (this.#pendingByUserCode(userCode));
    const login: PendingLogin = {
      loginId: randomUUID(),
      clientId,
      deviceCodeHash: sha256(deviceCode),
      userCodeHash: sha256(normalizeUserCode(userCode)),
      expiresAt: now() + deviceCodeLifetimeMs,
      intervalS: pollIntervalS,
      lastPollAt: undefined,
      decision: undefined,
    };
    this.#byDeviceCode.set(login.deviceCodeHash, login);
    this.#byUserCode.set(login.userCodeHash, login);
    return { deviceCode, userCode, expiresInS: Math.floor(deviceCodeLifetimeMs / 1000), intervalS: pollIntervalS, loginId: login.loginId };
  }

  /**
   * Approves a waiting login for a user, in `organization` (default: the user's first).
   * Returns the login id and the organization, for logs.
   *
   * @throws {HubError} `unknown_user_code`, `unknown_user` or `not_a_member`.
   */
  approve(
    userCode: string,
    { userId, organization }: { userId: string; organization?: string },
  ): { loginId: string; organization: string } {
    const login = this.#pendingByUserCode(userCode);
    if (!login) throw new HubError('unknown_user_code', 'no login waits for that user code (unknown, expired or already decided)');
    const user = this.#users.get(userId);
    if (!user) throw new HubError('unknown_user', `unknown user '${userId}'`);
    const org = organization === undefined ? user.organizations[0] : user.organizations.find((o) => o.id === organization);
    if (!org) throw new HubError('not_a_member', `user '${userId}' is not a member of organization '${organization}'`);
    login.decision = { approved: { userId, organizationId: org.id } };
    this.#byUserCode.delete(login.userCodeHash);
    return { loginId: login.loginId, organization: org.id };
  }

  /**
   * Denies a waiting login: the device's next poll gets `access_denied`. Returns the login id.
   *
   * @throws {HubError} `unknown_user_code`.
   */
  deny(userCode: string): { loginId: string } {
    const login = this.#pendingByUserCode(userCode);
    if (!login) throw new HubError('unknown_user_code', 'no login waits for that user code (unknown, expired or already decided)');
    login.decision = 'denied';
    this.#byUserCode.delete(login.userCodeHash);
    return { loginId: login.loginId };
  }

  /**
   * One poll of the device-code grant. Counts as a poll for `slow_down` (unless the code is
   * unknown, of another client, or expired). On success, sign the access token and `commit`:
   * that consumes the device code and makes the family.
   */
  checkDeviceCode(deviceCode: string, clientId: string): GrantCheck<DeviceGrantError> {
    this.#prune();
    const now = this.#options.now();
    const hash = sha256(deviceCode);
    const login = this.#byDeviceCode.get(hash);
    if (!login || login.clientId !== clientId) return { ok: false, error: 'invalid_grant' };
    const loginId = login.loginId;
    if (now >= login.expiresAt) return { ok: false, error: 'expired_token', loginId };
    const last = login.lastPollAt;
    login.lastPollAt = now;
    if (last !== undefined && now - last < login.intervalS * 1000) {
      login.intervalS += SLOW_DOWN_STEP_S;
      return { ok: false, error: 'slow_down', loginId };
    }
    const decision = login.decision;
    if (decision === 'denied') return { ok: false, error: 'access_denied', loginId };
    if (decision === undefined) return { ok: false, error: 'authorization_pending', loginId };
    const subject = this.#subject(decision.approved.userId, clientId, decision.approved.organizationId, randomUUID());
    if (!subject) return { ok: false, error: 'invalid_grant', loginId };
    return {
      ok: true,
      subject,
      commit: (access) => {
        // Exchanged meanwhile, or expired while the token was signed: once only.
        if (this.#byDeviceCode.get(hash) !== login || this.#options.now() >= login.expiresAt) return { ok: false, error: 'invalid_grant' };
        this.#byDeviceCode.delete(hash);
        const family: Family = {
          id: subject.familyId,
          userId: subject.userId,
          clientId,
          organizationId: subject.organization.id,
          current: '',
          tokens: new Set(),
          accessTokens: new Map(),
        };
        this.#families.set(family.id, family);
        return { ok: true, refreshToken: this.#rotate(family, access) };
      },
    };
  }

  /**
   * The refresh-token grant. A rotated token is refused with `replay` (the caller revokes the
   * family). On success, sign the access token and `commit`: that rotates the refresh token.
   */
  checkRefreshToken(refreshToken: string, clientId: string, organization: string | undefined): GrantCheck<RefreshGrantError> {
    this.#prune();
    const hash = sha256(refreshToken);
    const found = this.#liveRecord(hash);
    if (!found) return { ok: false, error: 'invalid_grant' };
    const { family } = found;
    if (family.current !== hash) return { ok: false, error: 'invalid_grant', familyId: family.id, replay: true };
    if (family.clientId !== clientId) return { ok: false, error: 'invalid_grant', familyId: family.id };
    const user = this.#users.get(family.userId);
    if (!user) return { ok: false, error: 'invalid_grant', familyId: family.id };
    const target = organization ?? family.organizationId;
    const subject = this.#subject(family.userId, clientId, target, family.id);
    if (!subject) return { ok: false, error: organization === undefined ? 'invalid_grant' : 'invalid_scope', familyId: family.id };
    return {
      ok: true,
      subject,
      commit: (access) => {
        // Rotated (or revoked) by someone else while the token was signed.
        if (this.#families.get(family.id) !== family || family.current !== hash || !this.#liveRecord(hash)) {
          return { ok: false, error: 'invalid_grant' };
        }
        family.organizationId = subject.organization.id;
        return { ok: true, refreshToken: this.#rotate(family, access) };
      },
    };
  }

  /** The live family a refresh token (current or rotated) belongs to, if any. */
  familyOf(refreshToken: string): { familyId: string; userId: string; clientId: string } | undefined {
    const found = this.#liveRecord(sha256(refreshToken));
    return found && { familyId: found.family.id, userId: found.family.userId, clientId: found.family.clientId };
  }

  /**
   * Revokes a family: every refresh token of it stops working. Returns the access tokens it
   * issued that may still be accepted, for the caller to revoke; undefined when unknown.
   */
  revokeFamily(familyId: string): RevokedFamily | undefined {
    const family = this.#families.get(familyId);
    if (!family) return undefined;
    this.#families.delete(familyId);
    for (const hash of family.tokens) this.#refreshTokens.delete(hash);
    const now = this.#options.now();
    const accessTokens = [...family.accessTokens].filter(([, until]) => until > now).map(([jti]) => jti);
    return { familyId, userId: family.userId, clientId: family.clientId, accessTokens };
  }

  /** Issues the family's next refresh token; the one before it is rotated from now on. */
  #rotate(family: Family, access: { jti: string; expiresAt: number }): string {
    const { now, refreshTokenLifetimeMs, accessTokenGraceMs } = this.#options;
    const token = randomBytes(32).toString('base64url');
    const hash = sha256(token);
    family.current = hash;
    family.tokens.add(hash);
    this.#refreshTokens.set(hash, { family, expiresAt: now() + refreshTokenLifetimeMs });
    family.accessTokens.set(access.jti, access.expiresAt + accessTokenGraceMs);
    return token;
  }

  #subject(userId: string, clientId: string, organizationId: string, familyId: string): LoginSubject | undefined {
    const user = this.#users.get(userId);
    const organization = user?.organizations.find((org) => org.id === organizationId);
    if (!user || !organization) return undefined;
    return { userId, clientId, organization: { ...organization }, organizations: user.organizations.map((org) => ({ ...org })), familyId };
  }

  #liveRecord(hash: string): RefreshRecord | undefined {
    const record = this.#refreshTokens.get(hash);
    if (!record || this.#options.now() >= record.expiresAt) return undefined;
    // A family revoked or expired as a whole takes its records with it.
    return this.#families.get(record.family.id) === record.family ? record : undefined;
  }

  #pendingByUserCode(userCode: string): PendingLogin | undefined {
    const login = this.#byUserCode.get(sha256(normalizeUserCode(userCode)));
    return login && this.#options.now() < login.expiresAt ? login : undefined;
  }

  /** Forgets what can no longer be used. An expired device code answers `expired_token` for one more lifetime. */
  #prune(): void {
    const { now: clock, deviceCodeLifetimeMs } = this.#options;
    const now = clock();
    if (now < this.#nextPruneAt) return;
    this.#nextPruneAt = now + PRUNE_EVERY_MS;
    for (const [hash, login] of this.#byUserCode) if (now >= login.expiresAt) this.#byUserCode.delete(hash);
    for (const [hash, login] of this.#byDeviceCode) if (now >= login.expiresAt + deviceCodeLifetimeMs) this.#byDeviceCode.delete(hash);
    for (const [hash, record] of this.#refreshTokens) {
      if (now < record.expiresAt) continue;
      this.#refreshTokens.delete(hash);
      const family = record.family;
      family.tokens.delete(hash);
      // The current token is the family's newest: once it has expired, so has the family.
      if (family.current === hash) this.#families.delete(family.id);
    }
    for (const family of this.#families.values()) {
      for (const [jti, until] of family.accessTokens) if (now >= until) family.accessTokens.delete(jti);
    }
  }
}

/** `WDJB-MJHT`: 8 letters of {@link USER_CODE_ALPHABET}, drawn uniformly. */
function newUserCode(): string {
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** What a user typed: case, dashes and spaces do not matter. */
export function normalizeUserCode(userCode: string): string {
  return userCode.toUpperCase().replace(/[^A-Z]/g, '');
}

function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}
