import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { clientAddress } from '../../http/client-address.ts';
import { reply } from '../../http/reply.ts';
import { originOf, parseParams, pathOf, readBody } from '../../http/request.ts';
import type { Logger } from '../../log/logger.ts';
import type { OperatorAccess } from '../admin/operator-access.ts';
import { HubError } from '../core/errors.ts';
import type { Attempt, FailureThrottle } from '../throttle/failure-throttle.ts';
import { replyThrottled } from '../throttle/throttled-reply.ts';
import { FAULT_BODIES, type FaultBodies, type FaultGate, NO_STORE } from './fault-gate.ts';
import type { TokenAuthority } from './token-authority.ts';
import type { GrantCheck, UserLogins } from './user-logins.ts';

/** RFC 8628 §3.1: where a device starts a user login. */
export const DEVICE_AUTHORIZATION_PATH = '/v1/oauth/device_authorization';
/** RFC 6749 §3.2: the token endpoint of the device-code and refresh-token grants. */
export const OAUTH_TOKEN_PATH = '/v1/oauth/token';
/** RFC 7009: where a device logs out (revokes its refresh token). */
export const OAUTH_REVOKE_PATH = '/v1/oauth/revoke';
/** Admin: approve or deny a user code (what the user's browser would do). */
export const OAUTH_APPROVE_PATH = '/v1/oauth/approve';
/** The `verification_uri` shown to users. */
export const VERIFICATION_PATH = '/v1/oauth/verify';
/** Who a user access token speaks for. */
export const ME_PATH = '/v1/me';
/** RFC 8628 §3.4 `grant_type` of the device-code grant. */
export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

/** What the OAuth routes need from the hub. */
export interface OAuthSource {
  authority: TokenAuthority;
  logins: UserLogins;
  /** The fault behaviour of `hub.faults.tokenEndpoint`; applies to `POST /v1/oauth/token` only. */
  gate: FaultGate;
  /** Who may use `POST /v1/oauth/approve`. */
  access: Pick<OperatorAccess, 'admit'>;
  /**
   * Slows down logins started (`device_login`: every `device_authorization` counts) and grants
   * refused `invalid_grant` (`oauth_grant`), per address and per client id.
   */
  throttle: FailureThrottle;
  isDeviceRevoked(tenantId: string, deviceId: string): boolean;
  /** Approves a user code; rejects with a {@link HubError} (`unknown_user_code`, `unknown_user`, `not_a_member`). */
  approve(userCode: string, approval: { userId: string; organization?: string }): Promise<void>;
  /** Denies a user code; rejects with a {@link HubError} `unknown_user_code`. */
  deny(userCode: string): Promise<void>;
  /** Revokes a login: its refresh tokens, its access tokens and the sessions living on them (`4007`), on every hub node. */
  revokeFamily(familyId: string, reason: 'logout' | 'refresh_token_replay'): Promise<unknown>;
  /** Revokes one access token by `jti`; sessions living on it close with `4007`. */
  revokeAccessToken(jti: string): void;
  /** `host:port` of the hub, for a request without a usable `Host` header. */
  fallbackHost(): string;
  /** The hub's clock. */
  now(): number;
  logger: Logger;
}

/** The OAuth routes and `GET /v1/me`. */
export interface OAuthEndpoint {
  /** Takes the request when its path is one of these routes; returns false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

/** Every request here is a few short fields: anything much larger is not one. */
const MAX_BODY_BYTES = 16 * 1024;

/** RFC 6749 §5.2: a 401 from the token endpoint means `invalid_client`. */
const OAUTH_FAULT_BODIES: FaultBodies = { ...FAULT_BODIES, 401: { error: 'invalid_client' } };

const Id = z.string().min(1).max(256);
const Secret = z.string().min(1).max(1024);
const DeviceAuthorizationRequest = z.object({ client_id: Id });
const GrantRequest = z.object({ grant_type: z.string().min(1) });
const DeviceCodeRequest = z.object({ device_code: Secret, client_id: Id });
const RefreshRequest = z.object({ refresh_token: Secret, client_id: Id, organization: Id.optional() });
const RevokeRequest = z.object({ token: z.string().min(1).max(8192), token_type_hint: z.string().optional(), client_id: Id.optional() });
const ApproveRequest = z.object({
  user_code: z.string().min(1).max(64),
  user_id: Id.optional(),
  organization: Id.optional(),
  deny: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
});

type Params = Record<string, unknown>;

/**
 * Creates the user-login routes (all answers JSON; bodies JSON or form-encoded):
 *
 * - `POST /v1/oauth/device_authorization` `{ client_id }` → `{ device_code, user_code,
 *   verification_uri, verification_uri_complete, expires_in, interval }` (RFC 8628 §3.2);
 * - `POST /v1/oauth/approve` `{ user_code, user_id, organization? }` or `{ user_code, deny: true }`,
 *   behind {@link OperatorAccess};
 * - `POST /v1/oauth/token`, grants `urn:ietf:params:oauth:grant-type:device_code` and
 *   `refresh_token` → `{ access_token, token_type, expires_in, expires_at, refresh_token,
 *   user_id, organization, organizations }`, errors RFC 6749 §5.2 style;
 * - `POST /v1/oauth/revoke` `{ token }` (RFC 7009) → `{}`;
 * - `GET /v1/me` with a user access token → `{ user_id, organization, organizations }`;
 * - `GET /v1/oauth/verify` → a line of text/plain.
 *
 * `device_authorization` and `token` answer 429 `{ error: 'too_many_attempts', retry_after_s }`
 * with `retry-after` while the throttle locks the address or the client id out.
 *
 * @example
 * const oauth = createOAuthEndpoint({ authority, logins, gate, access, throttle, ...hubCallbacks, logger });
 * http.createServer((req, res) => oauth.handle(req, res) || admin(req, res));
 */
export function createOAuthEndpoint(source: OAuthSource): OAuthEndpoint {
  const { authority, logins, logger, throttle } = source;

  function fail(res: ServerResponse, status: number, error: string, description?: string): void {
    reply(res, status, description === undefined ? { error } : { error, error_description: description }, NO_STORE);
  }

  function internal(res: ServerResponse, what: string): (error: unknown) => void {
    return (error) => {
      // The error's name only: nothing here should hold a secret, and nothing needs to.
      logger.error({ error: error instanceof Error ? error.name : typeof error }, `${what} failed`);
      fail(res, 500, 'internal');
    };
  }

  async function deviceAuthorization(req: IncomingMessage, res: ServerResponse, params: Params): Promise<void> {
    const request = DeviceAuthorizationRequest.safeParse(params);
    if (!request.success) return fail(res, 400, 'invalid_request', 'client_id (the device id) is required');
    const clientId = request.data.client_id;
    // Every start holds a pending login until it expires: each one counts.
    const attempt: Attempt = { kind: 'device_login', address: clientAddress(req), id: clientId };
    const admitted = await throttle.admit(attempt);
    if (!admitted.ok) return replyThrottled(res, admitted.retryAfterMs, NO_STORE);
    await throttle.fail(attempt);
    const started = await logins.startDeviceAuthorization(clientId);
    const verificationUri = `${originOf(req, () => source.fallbackHost())}${VERIFICATION_PATH}`;
    logger.info({ login: started.loginId, device_id: clientId, expires_in: started.expiresInS }, 'device login started');
    reply(
      res,
      200,
      {
        device_code: started.deviceCode,
        user_code: started.userCode,
        verification_uri: verificationUri,
        verification_uri_complete: `${verificationUri}?user_code=${encodeURIComponent(started.userCode)}`,
        expires_in: started.expiresInS,
        interval: started.intervalS,
      },
      NO_STORE,
    );
  }

  async function approve(res: ServerResponse, params: Params): Promise<void> {
    const request = ApproveRequest.safeParse(params);
    if (!request.success) return fail(res, 400, 'invalid_request', 'user_code, and user_id or deny, are required');
    const { user_code: userCode, user_id: userId, organization, deny } = request.data;
    try {
      if (deny === true || deny === 'true') {
        await source.deny(userCode);
        return reply(res, 200, { denied: true });
      }
      if (userId === undefined) return fail(res, 400, 'invalid_request', 'user_id is required to approve');
      await source.approve(userCode, organization === undefined ? { userId } : { userId, organization });
      reply(res, 200, { approved: true });
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      if (error.code === 'unknown_user_code') return reply(res, 404, { error: 'not_found' });
      fail(res, 400, 'invalid_request', error.message);
    }
  }

  async function token(req: IncomingMessage, res: ServerResponse, params: Params): Promise<void> {
    const grant = GrantRequest.safeParse(params);
    if (!grant.success) return fail(res, 400, 'invalid_request', 'grant_type is required');
    const deviceCode = grant.data.grant_type === DEVICE_CODE_GRANT_TYPE;
    if (!deviceCode && grant.data.grant_type !== 'refresh_token') return fail(res, 400, 'unsupported_grant_type');
    const request = deviceCode ? DeviceCodeRequest.safeParse(params) : RefreshRequest.safeParse(params);
    if (!request.success)
      return fail(
        res,
        400,
        'invalid_request',
        deviceCode ? 'device_code and client_id are required' : 'refresh_token and client_id are required',
      );
    const clientId = request.data.client_id;
    const attempt: Attempt = { kind: 'oauth_grant', address: clientAddress(req), id: clientId };
    const admitted = await throttle.admit(attempt);
    if (!admitted.ok) return replyThrottled(res, admitted.retryAfterMs, NO_STORE);
    let check: GrantCheck<string>;
    if ('device_code' in request.data) {
      check = await logins.checkDeviceCode(request.data.device_code, clientId);
    } else {
      const { refresh_token: refreshToken, organization } = request.data;
      check = await logins.checkRefreshToken(refreshToken, clientId, organization);
      if (!check.ok && check.replay && check.familyId !== undefined) await source.revokeFamily(check.familyId, 'refresh_token_replay');
    }
    // An unknown device code or refresh token is a guess; pending, slow_down, expired or denied are not.
    if (!check.ok && check.error === 'invalid_grant') await throttle.fail(attempt);
    else if (check.ok) await throttle.succeed(attempt);
    await issue(res, deviceCode ? 'device_code' : 'refresh_token', clientId, check);
  }

  /** Signs the user access token of a checked grant, commits the grant, and answers. */
  async function issue(
    res: ServerResponse,
    grant: 'device_code' | 'refresh_token',
    clientId: string,
    check: GrantCheck<string>,
  ): Promise<void> {
    if (!check.ok) {
      const quiet = check.error === 'authorization_pending' || check.error === 'slow_down';
      const line = { grant, device_id: clientId, error: check.error, login: check.loginId, family: check.familyId };
      if (quiet) logger.debug(line, 'device code poll');
      else logger.warn(line, 'user token refused');
      return fail(res, 400, check.error);
    }
    const { subject } = check;
    const who = { grant, user_id: subject.userId, device_id: clientId, organization: subject.organization.id, family: subject.familyId };
    if (source.isDeviceRevoked(subject.organization.id, clientId)) {
      logger.warn({ ...who, error: 'invalid_grant', reason: 'revoked' }, 'user token refused');
      return fail(res, 400, 'invalid_grant', 'the device is revoked');
    }
    const issued = await authority.issue({ kind: 'user', sub: subject.userId, tenant: subject.organization.id, device: clientId });
    const committed = await check.commit({ jti: issued.jti, expiresAt: issued.expiresAt });
    if (!committed.ok) {
      // Used up or revoked while the token was signed: that token must never work.
      source.revokeAccessToken(issued.jti);
      logger.warn({ ...who, error: committed.error }, 'user token refused');
      return fail(res, 400, committed.error);
    }
    logger.info({ ...who, jti: issued.jti, expires_at: issued.expiresAt }, 'user token issued');
    reply(
      res,
      200,
      {
        access_token: issued.token,
        token_type: 'Bearer',
        expires_in: Math.max(0, Math.round((issued.expiresAt - source.now()) / 1000)),
        expires_at: issued.expiresAt,
        refresh_token: committed.refreshToken,
        user_id: subject.userId,
        organization: subject.organization,
        organizations: subject.organizations,
      },
      NO_STORE,
    );
  }

  /** RFC 7009: the answer is 200 whether or not the token meant anything. */
  async function revoke(res: ServerResponse, params: Params): Promise<void> {
    const request = RevokeRequest.safeParse(params);
    if (!request.success) return fail(res, 400, 'invalid_request', 'token is required');
    const { token: presented, client_id: clientId } = request.data;
    // The hint only orders the search (RFC 7009 §2.1); both kinds are looked for.
    const family = await logins.familyOf(presented);
    if (family) {
      if (clientId === undefined || clientId === family.clientId) await source.revokeFamily(family.familyId, 'logout');
      return reply(res, 200, {}, NO_STORE);
    }
    const claims = await authority.verifyUser(presented).catch(() => undefined);
    if (claims && (clientId === undefined || clientId === claims.device)) {
      source.revokeAccessToken(claims.jti);
      logger.info({ user_id: claims.sub, device_id: claims.device, jti: claims.jti }, 'user access token revoked');
    }
    reply(res, 200, {}, NO_STORE);
  }

  async function me(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const unauthorized = () =>
      reply(res, 401, { error: 'invalid_token' }, { ...NO_STORE, 'www-authenticate': 'Bearer error="invalid_token"' });
    const bearer = /^Bearer +([\w.~+/-]+=*) *$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) return unauthorized();
    const claims = await authority.verifyUser(bearer).catch(() => undefined);
    const user = claims && logins.user(claims.sub);
    const organization = user?.organizations.find((org) => org.id === claims?.tenant);
    if (!user || !organization) return unauthorized();
    reply(res, 200, { user_id: user.user_id, organization, organizations: user.organizations }, NO_STORE);
  }

  /**
   * Reads the body, then runs `route` with its parameters (400 `invalid_request` for a bad
   * body). With `gated`, the fault behaviour decides first whether `route` runs at all.
   */
  function withParams(req: IncomingMessage, res: ServerResponse, route: (params: Params) => void, gated = false): void {
    void readBody(req, MAX_BODY_BYTES).then((text) => {
      const run = () => {
        const params = text === undefined ? undefined : parseParams(req.headers['content-type'], text);
        if (!params) return fail(res, 400, 'invalid_request', 'the body must be a JSON object or a form');
        try {
          route(params);
        } catch (error) {
          internal(res, 'oauth endpoint')(error);
        }
      };
      // The fault applies once the body is read, as on POST /v1/device-token.
      if (gated) source.gate.pass(res, run, { held: 'oauth token request held (fault: hang)', bodies: OAUTH_FAULT_BODIES });
      else run();
    });
  }

  return {
    handle(req, res) {
      const path = pathOf(req.url);
      const read = req.method === 'GET' || req.method === 'HEAD';
      switch (path) {
        case VERIFICATION_PATH:
          if (!read) reply(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
          else text(res, 'To log in on a device, have the hub approve its user code (POST /v1/oauth/approve).\n');
          return true;
        case ME_PATH:
          if (!read) reply(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
          else me(req, res).catch(internal(res, 'me'));
          return true;
        case DEVICE_AUTHORIZATION_PATH:
        case OAUTH_TOKEN_PATH:
        case OAUTH_REVOKE_PATH:
        case OAUTH_APPROVE_PATH:
          break;
        default:
          return false;
      }
      if (path === OAUTH_APPROVE_PATH) {
        source.access.admit(req, res).then(
          (admitted) => {
            if (!admitted) return;
            if (req.method !== 'POST') reply(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
            else withParams(req, res, (params) => void approve(res, params).catch(internal(res, 'oauth approval')));
          },
          internal(res, 'oauth approval'),
        );
        return true;
      }
      if (req.method !== 'POST') {
        reply(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
        return true;
      }
      if (path === DEVICE_AUTHORIZATION_PATH)
        withParams(req, res, (params) => void deviceAuthorization(req, res, params).catch(internal(res, 'device authorization')));
      else if (path === OAUTH_REVOKE_PATH) withParams(req, res, (params) => void revoke(res, params).catch(internal(res, 'revocation')));
      else withParams(req, res, (params) => void token(req, res, params).catch(internal(res, 'user token endpoint')), true);
      return true;
    },
  };
}

function text(res: ServerResponse, body: string): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
