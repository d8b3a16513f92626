import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { HubError } from '../core/errors.ts';
import type { HubUser, UserOrganization } from '../core/options.ts';
import { type IssuedRefresh, type LoginStore, MemoryLoginStore, type PendingLogin, type RevokedFamily } from './login-store.ts';

/** Letters no one confuses with a digit or with each other, as RFC 8628 §6.1 suggests. */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;

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
  | { ok: true; subject: LoginSubject; commit(accessToken: { jti: string; expiresAt: number }): Promise<GrantCommit> }
  | { ok: false; error: E; familyId?: string; loginId?: string; replay?: true };

/**
 * A committed grant: the new refresh token, or (when the state changed while the access token
 * was being signed) a refusal; then the access token must be revoked.
 */
export type GrantCommit = { ok: true; refreshToken: string } | { ok: false; error: 'invalid_grant' };

/** Options of {@link UserLogins}. */
export interface UserLoginsOptions {
  users: readonly HubUser[];
  now: () => number;
  refreshTokenLifetimeMs: number;
  deviceCodeLifetimeMs: number;
  pollIntervalS: number;
  /** How long after its `exp` an access token may still be accepted (the leeway). */
  accessTokenGraceMs: number;
  /** Where pending logins and families are kept (the hub engine's). Default: this process's memory. */
  store?: LoginStore | undefined;
}

/**
 * The hub's user logins: device authorizations waiting for a user (RFC 8628), and refresh
 * tokens with rotation and replay detection (OAuth 2.0 Security BCP §4.14), kept in a
 * {@link LoginStore} (this process's memory, or Redis shared by every hub node). Device codes,
 * user codes and refresh tokens are kept only as SHA-256 hashes.
 *
 * A login makes a **family**: the refresh token it returns and every one rotated from it.
 * Presenting a refresh token that has already been rotated is taken as theft: the whole family
 * is revoked.
 *
 * @example
 * const logins = new UserLogins({ users, now: Date.now, refreshTokenLifetimeMs, deviceCodeLifetimeMs: 600_000, pollIntervalS: 5, accessTokenGraceMs: 5_000 });
 * const { deviceCode, userCode } = await logins.startDeviceAuthorization('laptop-1');
 * await logins.approve(userCode, { userId: 'ada' });
 * const check = await logins.checkDeviceCode(deviceCode, 'laptop-1');
 * if (check.ok) {
 *   const { jti, expiresAt } = await authority.issue({ kind: 'user', sub: check.subject.userId, tenant: check.subject.organization.id, device: 'laptop-1' });
 *   const committed = await check.commit({ jti, expiresAt }); // { ok: true, refreshToken }
 * }
 */
export class UserLogins {
  readonly #options: UserLoginsOptions;
  readonly #users: Map<string, HubUser>;
  readonly #store: LoginStore;

  constructor(options: UserLoginsOptions) {
    this.#options = options;
    this.#users = new Map(options.users.map((user) => [user.user_id, user]));
    this.#store = options.store ?? new MemoryLoginStore();
  }

  /** A configured user, or undefined. */
  user(userId: string): HubUser | undefined {
    return this.#users.get(userId);
  }

  /** Starts a device authorization for `clientId` (the device id). */
  async startDeviceAuthorization(clientId: string): Promise<DeviceAuthorization> {
    const { deviceCodeLifetimeMs, pollIntervalS, now } = this.#options;
    const deviceCode = randomBytes(32).toString('base64url');
    for (;;) {
      const userCode = newUserCode();
      const at = now();
      const login: PendingLogin = {
        loginId: randomUUID(),
        clientId,
        deviceCodeHash: sha256(deviceCode),
        userCodeHash: sha256(normalizeUserCode(userCode)),
        expiresAt: at + deviceCodeLifetimeMs,
        intervalS: pollIntervalS,
        lastPollAt: undefined,
        decision: undefined,
      };
      // An expired device code answers `expired_token` for one more lifetime.
      if (!(await this.#store.start(login, at, login.expiresAt + deviceCodeLifetimeMs))) continue;
      return {
        deviceCode,
        userCode,
        expiresInS: Math.floor(deviceCodeLifetimeMs / 1000),
        intervalS: pollIntervalS,
        loginId: login.loginId,
      };
    }
  }

  /**
   * Approves a waiting login for a user, in `organization` (default: the user's first).
   * Returns the login id and the organization, for logs.
   *
   * @throws {HubError} `unknown_user_code`, `unknown_user` or `not_a_member`.
   */
  async approve(
    userCode: string,
    { userId, organization }: { userId: string; organization?: string },
  ): Promise<{ loginId: string; organization: string }> {
    const hash = sha256(normalizeUserCode(userCode));
    if (!(await this.#store.waiting(hash, this.#options.now()))) throw unknownUserCode();
    const user = this.#users.get(userId);
    if (!user) throw new HubError('unknown_user', `unknown user '${userId}'`);
    const org = organization === undefined ? user.organizations[0] : user.organizations.find((o) => o.id === organization);
    if (!org) throw new HubError('not_a_member', `user '${userId}' is not a member of organization '${organization}'`);
    const loginId = await this.#store.decide(hash, { approved: { userId, organizationId: org.id } }, this.#options.now());
    if (loginId === undefined) throw unknownUserCode();
    return { loginId, organization: org.id };
  }

  /**
   * Denies a waiting login: the device's next poll gets `access_denied`. Returns the login id.
   *
   * @throws {HubError} `unknown_user_code`.
   */
  async deny(userCode: string): Promise<{ loginId: string }> {
    const loginId = await this.#store.decide(sha256(normalizeUserCode(userCode)), 'denied', this.#options.now());
    if (loginId === undefined) throw unknownUserCode();
    return { loginId };
  }

  /**
   * One poll of the device-code grant. Counts as a poll for `slow_down` (unless the code is
   * unknown, of another client, or expired). On success, sign the access token and `commit`:
   * that consumes the device code and makes the family.
   */
  async checkDeviceCode(deviceCode: string, clientId: string): Promise<GrantCheck<DeviceGrantError>> {
    const hash = sha256(deviceCode);
    const poll = await this.#store.poll(hash, clientId, this.#options.now());
    if (poll.state === 'unknown') return { ok: false, error: 'invalid_grant' };
    const loginId = poll.loginId;
    if (poll.state !== 'approved') return { ok: false, error: POLL_ERRORS[poll.state], loginId };
    const subject = this.#subject(poll.userId, clientId, poll.organizationId, randomUUID());
    if (!subject) return { ok: false, error: 'invalid_grant', loginId };
    return {
      ok: true,
      subject,
      commit: async (access) => {
        const family = { id: subject.familyId, userId: subject.userId, clientId, organizationId: subject.organization.id };
        const { token, issued } = this.#next(access);
        // Exchanged meanwhile (on any node), or expired while the token was signed: once only.
        if (!(await this.#store.redeem(hash, loginId, this.#options.now(), family, issued))) return { ok: false, error: 'invalid_grant' };
        return { ok: true, refreshToken: token };
      },
    };
  }

  /**
   * The refresh-token grant. A rotated token is refused with `replay` (the caller revokes the
   * family). On success, sign the access token and `commit`: that rotates the refresh token.
   */
  async checkRefreshToken(
    refreshToken: string,
    clientId: string,
    organization: string | undefined,
  ): Promise<GrantCheck<RefreshGrantError>> {
    const hash = sha256(refreshToken);
    const found = await this.#store.familyOf(hash, this.#options.now());
    if (!found) return { ok: false, error: 'invalid_grant' };
    const { family } = found;
    if (!found.current) return { ok: false, error: 'invalid_grant', familyId: family.id, replay: true };
    if (family.clientId !== clientId) return { ok: false, error: 'invalid_grant', familyId: family.id };
    const user = this.#users.get(family.userId);
    if (!user) return { ok: false, error: 'invalid_grant', familyId: family.id };
    const target = organization ?? family.organizationId;
    const subject = this.#subject(family.userId, clientId, target, family.id);
    if (!subject) return { ok: false, error: organization === undefined ? 'invalid_grant' : 'invalid_scope', familyId: family.id };
    return {
      ok: true,
      subject,
      commit: async (access) => {
        const { token, issued } = this.#next(access);
        // Rotated (or revoked) by someone else, on any node, while the token was signed.
        if (!(await this.#store.rotate(family.id, hash, issued, subject.organization.id, this.#options.now()))) {
          return { ok: false, error: 'invalid_grant' };
        }
        return { ok: true, refreshToken: token };
      },
    };
  }

  /** The live family a refresh token (current or rotated) belongs to, if any. */
  async familyOf(refreshToken: string): Promise<{ familyId: string; userId: string; clientId: string } | undefined> {
    const found = await this.#store.familyOf(sha256(refreshToken), this.#options.now());
    return found && { familyId: found.family.id, userId: found.family.userId, clientId: found.family.clientId };
  }

  /**
   * Revokes a family: every refresh token of it stops working. Returns the access tokens it
   * issued that may still be accepted, for the caller to revoke; undefined when unknown.
   */
  revokeFamily(familyId: string): Promise<RevokedFamily | undefined> {
    return this.#store.revoke(familyId, this.#options.now());
  }

  /** A new refresh token, and what the store keeps of it and of the access token signed with it. */
  #next(access: { jti: string; expiresAt: number }): { token: string; issued: IssuedRefresh } {
    const { now, refreshTokenLifetimeMs, accessTokenGraceMs } = this.#options;
    const token = randomBytes(32).toString('base64url');
    return {
      token,
      issued: {
        hash: sha256(token),
        expiresAt: now() + refreshTokenLifetimeMs,
        accessJti: access.jti,
        accessUntil: access.expiresAt + accessTokenGraceMs,
      },
    };
  }

  #subject(userId: string, clientId: string, organizationId: string, familyId: string): LoginSubject | undefined {
    const user = this.#users.get(userId);
    const organization = user?.organizations.find((org) => org.id === organizationId);
    if (!user || !organization) return undefined;
    return { userId, clientId, organization: { ...organization }, organizations: user.organizations.map((org) => ({ ...org })), familyId };
  }
}

const POLL_ERRORS = {
  expired: 'expired_token',
  slow_down: 'slow_down',
  pending: 'authorization_pending',
  denied: 'access_denied',
} as const satisfies Record<string, DeviceGrantError>;

function unknownUserCode(): HubError {
  return new HubError('unknown_user_code', 'no login waits for that user code (unknown, expired or already decided)');
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
