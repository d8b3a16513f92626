/**
 * The auth machine's vocabulary: what a token grant is, who a user is, why a fetch failed, the
 * input, context, and the events in and out. The machine itself is in auth.ts, its policy in
 * auth-policy.ts.
 */

import type { AuthPolicy } from './auth-policy.ts';
import type { NetworkFailureReason } from '../util/network-failure-reason.ts';

/** A user's identity and organizations, from a user login (organization id = tenant id). */
export interface UserInfo {
  userId: string;
  organization: { id: string; name: string; role: string };
  organizations: Array<{ id: string; name: string; role: string }>;
}

/** A credential the connector can put in `connect` or `auth_refresh`. */
export interface TokenGrant {
  token: string;
  /** Wall time the token stops being valid; undefined for a token that never expires. */
  expiresAt: number | undefined;
  /**
   * How long the token lasts from issue (`exp - iat`, or `expires_in`). When known, expiry is
   * counted on the local clock from receipt, so a device clock that is off does not matter.
   */
  lifetimeMs?: number | undefined;
  /** User mode: who is logged in, and the organization (tenant) the token is for. */
  user?: UserInfo | undefined;
}

/** A user login in progress: what to show the user, and how to poll for its approval. */
export interface LoginInProgress {
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | undefined;
  expiresAt: number;
  /** Bearer secret of the pending login; short-lived, never logged (redact it when inspecting). */
  deviceCode: string;
  intervalMs: number;
}

/**
 * Why a token fetch failed. Only `rejected` and `revoked` are definitive: everything else keeps
 * the session and is retried (a 429 must never log anyone out: during an outage that would log out
 * every user at once).
 */
export type AuthFetchErrorKind =
  | 'rejected'
  | 'revoked'
  | 'rate_limited'
  | 'server'
  | 'timeout'
  | 'network'
  | 'invalid_response'
  /** The network named why (docs/operations.md, "Networks"): retried like `network`, reported as itself. */
  | NetworkFailureReason
  /** User mode: no stored session, the user has to log in. */
  | 'logged_out'
  /** User mode: an organization switch to one the user is not a member of. */
  | 'not_a_member';

export class AuthFetchError extends Error {
  override readonly name = 'AuthFetchError';
  constructor(
    readonly kind: AuthFetchErrorKind,
    message: string,
    /** From `Retry-After`, when the server gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/**
 * `device`: short-lived tokens for the device credential; `user`: short-lived tokens for a
 * logged-in user (OAuth device authorization grant, refresh tokens, organizations); `static`: a
 * configured token; `none`: standalone.
 */
export type AuthMode = 'device' | 'user' | 'static' | 'none';

export type UnauthorizedReason = 'static_token_expired' | 'credentials_rejected' | 'revoked' | 'rejected_by_hub';

export interface AuthInput {
  mode: AuthMode;
  /** The configured token, in `static` mode. */
  staticGrant?: TokenGrant;
  policy: AuthPolicy;
  seed: number;
  now: () => number;
}

export interface AuthContext extends Omit<AuthInput, 'seed' | 'staticGrant'> {
  rng: number;
  grant: TokenGrant | undefined;
  /** Wall time the current token arrived (its lifetime counts from here). */
  receivedAt: number | undefined;
  /** Wall time of the next proactive refresh. */
  refreshAt: number | undefined;
  /** Someone asked for a token that is not ready yet; answer when it is. */
  pending: boolean;
  /** The hub refused the current token once already (reactive refresh was spent). */
  rejectedOnce: boolean;
  /** Consecutive failed fetches, for the backoff. */
  failures: number;
  retryInMs: number | undefined;
  reason: string;
  /** Why the machine is `unauthorized`. */
  unauthorized: UnauthorizedReason | undefined;
  /** User mode: who is logged in. */
  user: UserInfo | undefined;
  /** User mode: the login being approved, while logging in. */
  login: LoginInProgress | undefined;
  /** User mode: an organization switch asked for while a refresh was in flight. */
  pendingOrganization: string | undefined;
  /**
   * No live session uses the token (the supervisor says so when the connection goes down):
   * proactive refreshes wait, and a token is refreshed on demand when an attempt asks for one.
   */
  idle: boolean;
}

/** The auth part of the connector status; `stopped` while no auth machine runs. */
export interface AuthStatus {
  /**
   * `attempting` (first token), `active` (`valid`, `refreshing`, or `waiting` to retry a
   * failed refresh), `inactive` (no valid token, hub unreachable), `static`, `unauthorized`
   * (definitive), `disabled` (standalone).
   */
  state:
    | 'attempting'
    | 'inactive'
    | 'valid'
    | 'refreshing'
    | 'waiting'
    | 'switching'
    | 'static'
    | 'logged_out'
    | 'logging_in'
    | 'logging_out'
    | 'unauthorized'
    | 'disabled'
    | 'stopped';
  reason: string;
  /** When the current token expires (epoch ms). */
  expiresAt?: number;
  /** Delay before the next token fetch, while retrying. */
  retryInMs?: number;
  /** User mode: who is logged in and in which organization (= tenant). */
  user?: UserInfo;
  /** User mode, while logging in: what to show the user. */
  login?: { userCode: string; verificationUri: string; verificationUriComplete?: string; expiresAt: number };
}

export type AuthEvent =
  /** The connection needs a token for a new attempt. */
  | { type: 'token.request' }
  /** The hub refused the current token (close 4001/4002, or an `auth_refresh` answered with an error). */
  | { type: 'token.rejected' }
  /** The hub accepted the current token (a session opened, or `auth_refresh_ack`). */
  | { type: 'token.accepted' }
  /** A session is up (proactive refresh keeps it going in-band) or down (refresh on demand). */
  | { type: 'session.up' }
  | { type: 'session.down' }
  /** User mode: start a login (device authorization grant); `cancel_login` gives up on it. */
  | { type: 'login' }
  | { type: 'cancel_login' }
  /** User mode: revoke the session at the hub and forget it here. */
  | { type: 'logout' }
  /** User mode: re-scope the token to another organization (tenant). */
  | { type: 'switch_organization'; organization: string };

/** Events the auth machine sends its parent. */
export type AuthOutput =
  | { type: 'auth.token'; grant: TokenGrant }
  | { type: 'auth.refreshed'; grant: TokenGrant }
  | { type: 'auth.unavailable'; reason: UnauthorizedReason }
  /** User mode: show this to the user; the login completes when they approve it. */
  | { type: 'auth.login_prompt'; login: Omit<LoginInProgress, 'deviceCode' | 'intervalMs'> }
  | { type: 'auth.logged_out'; reason: string }
  /** User mode: the token is now for another tenant; the connection must reconnect. */
  | { type: 'auth.tenant_changed'; tenant: string }
  | { type: 'auth.switch_failed'; organization: string; reason: string };
