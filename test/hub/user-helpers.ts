import { decodeJwt } from 'jose';
import { expect } from 'vitest';
import type { Hub, HubOptions, HubTokenOptions, HubUser } from '../../src/hub/index.ts';
import { LIFETIME_MS, startTokenHub } from './token-helpers.ts';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const DEVICE_CODE_LIFETIME_MS = 60_000;
export const REFRESH_LIFETIME_MS = 3_600_000;
export const ADMIN = 'admin-7d2c-secret';

export const ACME = { id: 'acme', name: 'Acme Corp', role: 'owner' } as const;
export const GLOBEX = { id: 'globex', name: 'Globex', role: 'member' } as const;

/** ada is in two organizations (acme first), bob in acme only. */
export const USERS: HubUser[] = [
  { user_id: 'ada', organizations: [{ ...ACME }, { ...GLOBEX }] },
  { user_id: 'bob', organizations: [{ id: 'acme', name: 'Acme Corp', role: 'member' }] },
];

/** A token hub (manual clock, 2 s access tokens) with users, a 1 s poll interval and an admin token. */
export async function startUserHub(options: Omit<HubOptions, 'tokens'> & { tokens?: HubTokenOptions } = {}) {
  return startTokenHub({
    adminToken: ADMIN,
    ...options,
    tokens: {
      users: USERS,
      pollIntervalS: 1,
      deviceCodeLifetimeMs: DEVICE_CODE_LIFETIME_MS,
      refreshTokenLifetimeMs: REFRESH_LIFETIME_MS,
      ...options.tokens,
    },
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs `body` to `path` as JSON, or as a form with `{ form: true }`; a string is sent as is. */
export async function post(
  port: number,
  path: string,
  body: Record<string, unknown> | string,
  { form = false, headers = {} }: { form?: boolean; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const encoded =
    typeof body === 'string'
      ? body
      : form
        ? new URLSearchParams(Object.entries(body).map(([key, value]): [string, string] => [key, String(value)])).toString()
        : JSON.stringify(body);
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json', ...headers },
    body: encoded,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

export const authorize = (port: number, clientId: string, options?: { form?: boolean }) =>
  post(port, '/v1/oauth/device_authorization', { client_id: clientId }, options);

export const poll = (port: number, deviceCode: string, clientId: string, options?: { form?: boolean }) =>
  post(port, '/v1/oauth/token', { grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, client_id: clientId }, options);

export const refresh = (
  port: number,
  refreshToken: string,
  clientId: string,
  extra: Record<string, string> = {},
  options?: { form?: boolean },
) => post(port, '/v1/oauth/token', { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, ...extra }, options);

/** POSTs an approval with the admin token, another bearer, or (`null`) none. */
export const approve = (port: number, body: Record<string, unknown>, token: string | null = ADMIN) =>
  post(port, '/v1/oauth/approve', body, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });

export const revoke = (port: number, body: Record<string, unknown>, options?: { form?: boolean }) =>
  post(port, '/v1/oauth/revoke', body, options);

/** What a successful user token answer carries. */
export interface UserTokens {
  access_token: string;
  refresh_token: string;
  expires_at: number;
  organization: { id: string; name: string; role: string };
}

/**
 * What a token answer for ada in acme (her default organization) holds besides
 * `access_token`, for tokens issued at `now`: spread it into a `toEqual` next to the test's own
 * `access_token` matcher.
 */
export const adaTokenAnswer = (now: number) => ({
  token_type: 'Bearer',
  expires_in: LIFETIME_MS / 1000,
  expires_at: now + LIFETIME_MS,
  refresh_token: expect.stringMatching(/^[\w-]{43,}$/),
  user_id: 'ada',
  organization: ACME,
  organizations: [ACME, GLOBEX],
});

/** A whole device login: authorization, approval (programmatic), and the token exchange. */
export async function login(
  hub: Hub,
  port: number,
  { deviceId = 'device-1', userId = 'ada', organization }: { deviceId?: string; userId?: string; organization?: string } = {},
): Promise<UserTokens> {
  const started = await authorize(port, deviceId);
  await hub.approveDeviceLogin(started.body.user_code as string, organization === undefined ? { userId } : { userId, organization });
  const answer = await poll(port, started.body.device_code as string, deviceId);
  if (answer.status !== 200) throw new Error(`login failed: ${JSON.stringify(answer.body)}`);
  return answer.body as unknown as UserTokens;
}

/** The claims of a JWT, unverified. */
export const claimsOf = (token: string) => decodeJwt(token);
