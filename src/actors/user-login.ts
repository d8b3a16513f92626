import { fromPromise } from 'xstate';
import type { HttpAdapter, HttpResponse } from '../adapters/http.ts';
import { AuthFetchError, type TokenGrant, type UserInfo } from '../machines/auth.ts';
import type { SecretStore } from '../storage/secret-store.ts';
import { busyFailure, fetchFailure, tokenTiming } from './device-token.ts';

/** The secret store entry that holds the user's refresh token. */
export const REFRESH_TOKEN_ENTRY = 'refresh_token';

export interface UserLoginDeps {
  http: HttpAdapter;
  /** The hub's HTTP origin, e.g. `http://127.0.0.1:7070`. */
  hubOrigin: string;
  /** The device id: the OAuth client id of this process. */
  clientId: string;
  /** Where the refresh token lives (0600, sealed when a key is configured). */
  secrets: SecretStore;
  timeoutMs?: number;
}

/** What the host shows the user: where to go and which code to type (RFC 8628 §3.3). */
export interface LoginPrompt {
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | undefined;
  /** Wall time the code stops working. */
  expiresAt: number;
}

export interface PendingLogin extends LoginPrompt {
  deviceCode: string;
  intervalMs: number;
}

/** Why a poll of the token endpoint did not log the user in yet (RFC 8628 §3.5). */
export type LoginPollErrorKind = 'authorization_pending' | 'slow_down' | 'access_denied' | 'expired_token';

export class LoginPollError extends Error {
  override readonly name = 'LoginPollError';
  constructor(readonly kind: LoginPollErrorKind) {
    super(kind);
  }
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * The effects of user login, as actors for the auth machine: start a device authorization,
 * poll for its approval, refresh with the stored refresh token (rotating it), and revoke it on
 * logout. Refresh tokens never enter machine context or logs: these actors read and write them
 * in the secret store.
 *
 * @example
 * const auth = authMachine.provide({ actors: createUserLoginActors({ http, hubOrigin, clientId: deviceId, secrets }) });
 */
export function createUserLoginActors(deps: UserLoginDeps) {
  const post = async (path: string, json: unknown, signal?: AbortSignal): Promise<HttpResponse> => {
    try {
      return await deps.http.request({
        method: 'POST',
        url: `${deps.hubOrigin}${path}`,
        json,
        timeoutMs: deps.timeoutMs ?? 10_000,
        ...(signal && { signal }),
      });
    } catch (error) {
      throw fetchFailure(error);
    }
  };

  /** Reads a token response; keeps the (rotated) refresh token in the secret store. */
  const grantFrom = async (response: HttpResponse): Promise<TokenGrant> => {
    const body = response.body as Record<string, unknown> | undefined;
    if (response.status === 429 || response.status >= 500) throw busyFailure(response);
    const error = body?.error;
    if (response.status !== 200) {
      if (error === 'invalid_grant') {
        // The refresh token is dead (expired, revoked, replayed): forget it; the user logs in again.
        await deps.secrets.delete(REFRESH_TOKEN_ENTRY);
        throw new AuthFetchError('rejected', 'the session ended: log in again');
      }
      if (error === 'invalid_scope') throw new AuthFetchError('not_a_member', 'not a member of that organization');
      throw new AuthFetchError('invalid_response', `token endpoint answered ${response.status} ${String(error ?? '')}`.trim());
    }
    const token = body?.access_token;
    const refresh = body?.refresh_token;
    if (typeof token !== 'string' || typeof refresh !== 'string')
      throw new AuthFetchError('invalid_response', 'token response without tokens');
    await deps.secrets.set(REFRESH_TOKEN_ENTRY, refresh);
    const timing = tokenTiming(token, body?.expires_in);
    return {
      token,
      expiresAt: timing.expiresAt ?? (typeof body?.expires_at === 'number' ? body.expires_at : undefined),
      lifetimeMs: timing.lifetimeMs,
      user: userFrom(body),
    };
  };

  return {
    /** Refresh grant with the stored refresh token; `organization` switches the tenant. */
    fetchToken: fromPromise<TokenGrant, { attempt: 'initial' | 'refresh'; organization?: string }>(async ({ input, signal }) => {
      const refreshToken = await deps.secrets.get(REFRESH_TOKEN_ENTRY);
      if (refreshToken === undefined) throw new AuthFetchError('logged_out', 'no stored session: log in');
      const response = await post(
        '/v1/oauth/token',
        {
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: deps.clientId,
          ...(input.organization && { organization: input.organization }),
        },
        signal,
      );
      return grantFrom(response);
    }),

    startLogin: fromPromise<PendingLogin, { now: number }>(async ({ input, signal }) => {
      const response = await post('/v1/oauth/device_authorization', { client_id: deps.clientId }, signal);
      const body = response.body as Record<string, unknown> | undefined;
      if (response.status !== 200 || typeof body?.device_code !== 'string' || typeof body.user_code !== 'string') {
        if (response.status === 429 || response.status >= 500)
          throw new AuthFetchError('server', `device authorization answered ${response.status}`);
        throw new AuthFetchError('invalid_response', `device authorization answered ${response.status}`);
      }
      return {
        deviceCode: body.device_code,
        userCode: body.user_code,
        verificationUri: String(body.verification_uri ?? ''),
        verificationUriComplete: typeof body.verification_uri_complete === 'string' ? body.verification_uri_complete : undefined,
        expiresAt: input.now + Number(body.expires_in ?? 600) * 1000,
        intervalMs: Number(body.interval ?? 5) * 1000,
      };
    }),

    pollLogin: fromPromise<TokenGrant, { deviceCode: string }>(async ({ input, signal }) => {
      const response = await post(
        '/v1/oauth/token',
        { grant_type: DEVICE_GRANT, device_code: input.deviceCode, client_id: deps.clientId },
        signal,
      );
      const error = (response.body as { error?: unknown } | undefined)?.error;
      if (
        response.status === 400 &&
        (error === 'authorization_pending' || error === 'slow_down' || error === 'access_denied' || error === 'expired_token')
      ) {
        throw new LoginPollError(error);
      }
      return grantFrom(response);
    }),

    /** Logout: revoke the refresh token at the hub (best effort), then forget it here. */
    revokeSession: fromPromise<void, void>(async ({ signal }) => {
      const refreshToken = await deps.secrets.get(REFRESH_TOKEN_ENTRY);
      try {
        if (refreshToken !== undefined) await post('/v1/oauth/revoke', { token: refreshToken, token_type_hint: 'refresh_token' }, signal);
      } finally {
        await deps.secrets.delete(REFRESH_TOKEN_ENTRY);
      }
    }),
  };
}

function userFrom(body: Record<string, unknown> | undefined): UserInfo | undefined {
  if (typeof body?.user_id !== 'string') return undefined;
  const org = (o: unknown) => o as UserInfo['organization'];
  return {
    userId: body.user_id,
    organization: org(body.organization),
    organizations: Array.isArray(body.organizations) ? body.organizations.map(org) : [],
  };
}
