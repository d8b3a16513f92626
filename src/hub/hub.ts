import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { JSONWebKeySet } from 'jose';
import { type ServerOptions, WebSocketServer } from 'ws';
import type { Logger } from '../log/logger.ts';
import { CloseCode, createCodec, direction, FrameError, type MessageType, type Outbound } from '../protocol/index.ts';
import { createAdminHandler } from './admin.ts';
import { createCredentialCheck } from './credential-check.ts';
import { HubError, TokenError } from './errors.ts';
import type { HubEvents, SessionInfo } from './events.ts';
import { createFaultGate, type FaultGate } from './fault-gate.ts';
import { pathOf } from './http.ts';
import { createOAuthEndpoint } from './oauth-endpoint.ts';
import { type HubOptions, type ResolvedHubOptions, resolveHubOptions } from './options.ts';
import { SessionRegistry } from './registry.ts';
import { RevocationList } from './revocations.ts';
import { Session, type SessionHost } from './session.ts';
import { createTokenAuthority, type IssuedToken, type TokenAuthority } from './token-authority.ts';
import { createTokenEndpoint, type TokenEndpointBehaviour } from './token-endpoint.ts';
import { UserLogins } from './user-logins.ts';

/** The WebSocket endpoint devices connect to. */
export const CONNECT_PATH = '/v1/connect';

/**
 * How long a closing session may take to answer our close frame before its socket is
 * destroyed; bounds `close()` and `restart()` when a device has hung.
 */
const CLOSE_TIMEOUT_MS = 2_000;

/** Messages `dispatch` may send. Handshake and heartbeat replies are the session's own business. */
export type DispatchMessage = Outbound<'execution_request' | 'messaging_event' | 'error'>;
const dispatchable: ReadonlySet<MessageType> = new Set(['execution_request', 'messaging_event', 'error']);

export interface HubListenOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
}

export interface HubAddress {
  /** The device endpoint, e.g. `ws://127.0.0.1:4817/v1/connect`. */
  url: string;
  port: number;
}

/**
 * Failures to inject in tests of the connector.
 *
 * @example
 * hub.faults.silence('laptop-1', true);  // the connector should notice missing heartbeat acks
 * hub.faults.dropDevice('laptop-1');     // the connector should see 1006 and reconnect
 */
export interface HubFaults {
  /**
   * Destroys every socket of the device without a close frame, like a network drop.
   * Returns false when the device has no session.
   */
  dropDevice(deviceId: string): boolean;
  /**
   * Plays dead towards a device (or every device with `'*'`): no `heartbeat_ack`, no
   * `connect_ack`, no dispatched or error frames; close frames still go out. The hub keeps
   * reading and does not time a silenced device out. Holds across reconnects until turned
   * off; `silence('*', false)` lifts every silence.
   */
  silence(deviceId: string, on: boolean): void;
  /**
   * Makes the token endpoints, `POST /v1/device-token` and `POST /v1/oauth/token` (both
   * grants), answer `'ok'` (for real, the default), with a fixed error status
   * (`Retry-After: retryAfterS` on a 429 or 503), or `'hang'`: no answer until the behaviour
   * changes (then by the new one) or the hub closes. The fault bodies are those of
   * `/v1/device-token` (`{ error: 'rate_limited' }`, …), but a 401 on `/v1/oauth/token` is
   * `{ error: 'invalid_client' }`. No effect on a hub without the `tokens` option, which has
   * no token endpoint.
   *
   * @example
   * hub.faults.tokenEndpoint({ status: 429, retryAfterS: 2 }); // the auth machine must wait, not log out
   * hub.faults.tokenEndpoint('hang');                          // its request timeout must fire
   * hub.faults.tokenEndpoint('ok');
   */
  tokenEndpoint(behaviour: TokenEndpointBehaviour): void;
}

type Lifecycle = 'idle' | 'listening' | 'restarting' | 'closed';

/**
 * The reference hub: a `node:http` server with the device WebSocket endpoint on
 * `/v1/connect` and JSON admin routes beside it; with the `tokens` option, also the device
 * token endpoint (`POST /v1/device-token`), its public keys (`/.well-known/jwks.json`), and
 * user login on devices (`/v1/oauth/*`: the device authorization grant, refresh tokens,
 * revocation; `GET /v1/me`). Create one with {@link createHub}.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly faults: HubFaults;

  readonly #options: ResolvedHubOptions;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #host: SessionHost;
  /** Authenticated sessions by (tenant, device). */
  readonly #registry = new SessionRegistry<{ session: Session; info: SessionInfo }>();
  /** Every socket, including those still in the handshake: what close() must wait for. */
  readonly #sessions = new Set<Session>();
  readonly #silenced = { all: false, devices: new Set<string>() };
  /** Present when the hub issues tokens (the `tokens` option). */
  readonly #authority: TokenAuthority | undefined;
  /** The fault behaviour of the token endpoints; present with `tokens`. */
  readonly #tokenFaults: FaultGate | undefined;
  readonly #logins: UserLogins | undefined;
  readonly #revocations: RevocationList;
  #state: Lifecycle = 'idle';
  #address: { host: string; port: number } | undefined;
  /** listen, restart and close run one at a time, in call order. */
  #lifecycle: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  constructor(options: HubOptions) {
    super();
    const resolved = resolveHubOptions(options);
    this.#options = resolved;
    // No bindings of our own: the caller names the component (`logger.child({ component: 'hub' })`),
    // and a key bound by both would be written twice on every line.
    this.#log = resolved.logger;
    const { clock, tokens } = resolved;
    const now = () => clock.now();
    // A revoked jti can be forgotten once no token issued before the revocation is still valid.
    this.#revocations = new RevocationList(now, (tokens?.lifetimeMs ?? 0) + (tokens?.leewayMs ?? 0));
    const isRevoked = (tenantId: string, deviceId: string, jti?: string) =>
      this.#revocations.isDeviceRevoked(tenantId, deviceId) || (jti !== undefined && this.#revocations.isTokenRevoked(jti));
    const authority =
      tokens &&
      createTokenAuthority({
        issuer: tokens.issuer,
        audience: tokens.audience,
        lifetimeMs: tokens.lifetimeMs,
        leewayMs: tokens.leewayMs,
        generateKeyPair: tokens.generateKeyPair,
        now,
        // A user token speaks for its user on one device: that device's revocation counts.
        isRevoked: (claims) => isRevoked(claims.tenant, claims.kind === 'user' ? claims.device : claims.sub, claims.jti),
      });
    this.#authority = authority;
    const isDeviceRevoked = (tenantId: string, deviceId: string) => this.#revocations.isDeviceRevoked(tenantId, deviceId);
    const gate = tokens && createFaultGate(this.#log);
    this.#tokenFaults = gate;
    const logins =
      tokens &&
      new UserLogins({
        users: tokens.users,
        now,
        refreshTokenLifetimeMs: tokens.refreshTokenLifetimeMs,
        deviceCodeLifetimeMs: tokens.deviceCodeLifetimeMs,
        pollIntervalS: tokens.pollIntervalS,
        accessTokenGraceMs: tokens.leewayMs,
      });
    this.#logins = logins;
    const tokenEndpoint =
      authority &&
      gate &&
      createTokenEndpoint({ authority, credentials: tokens.deviceCredentials, isDeviceRevoked, now, logger: this.#log, gate });
    const oauth =
      authority &&
      gate &&
      logins &&
      createOAuthEndpoint({
        authority,
        logins,
        gate,
        adminToken: resolved.adminToken,
        isDeviceRevoked,
        approve: (userCode, approval) => this.approveDeviceLogin(userCode, approval),
        deny: (userCode) => this.denyDeviceLogin(userCode),
        revokeFamily: (familyId, reason) => this.#revokeLogin(familyId, reason),
        revokeAccessToken: (jti) => void this.revokeToken(jti),
        fallbackHost: () => {
          const { host = '127.0.0.1', port = 0 } = this.#address ?? {};
          return `${host.includes(':') ? `[${host}]` : host}:${port}`;
        },
        now,
        logger: this.#log,
      });
    this.#host = {
      options: resolved,
      // Called through the clock object: an injected clock may be a class instance.
      codec: createCodec({ maxFrameBytes: resolved.maxFrameBytes, now: () => resolved.clock.now(), receiver: 'hub' }),
      logger: this.#log,
      isSilenced: (deviceId) => this.#silenced.all || (deviceId !== undefined && this.#silenced.devices.has(deviceId)),
      checkCredential: createCredentialCheck({ authority, fallback: resolved.authenticate }),
      verifyToken: (token, who) =>
        authority
          ? authority.verify(token, { tenant: who.tenant_id, device: who.device_id })
          : Promise.reject(new TokenError('unknown_key', 'unknown_key: this hub issues no tokens')),
      isRevoked: (who, jti) => isRevoked(who.tenant_id, who.device_id, jti),
      register: (session, info) => this.#register(session, info),
      forget: (session) => this.#forget(session),
      emit: (event, ...args) => this.#emitSafely(event, ...args),
    };
    // closeTimeout is a ws server option that @types/ws does not declare yet, hence the cast.
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: resolved.maxFrameBytes,
      clientTracking: false,
      closeTimeout: CLOSE_TIMEOUT_MS,
    } as ServerOptions);
    const admin = createAdminHandler({
      adminToken: resolved.adminToken,
      devices: () => this.devices(),
      revokeDevice: (deviceId, tenantId) => this.revokeDevice(deviceId, { tenantId }),
      logger: this.#log,
    });
    this.#server = createServer((req, res) => {
      if (!tokenEndpoint?.handle(req, res) && !oauth?.handle(req, res)) admin(req, res);
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#server.on('error', (error: Error) => this.#log.error({ err: error }, 'server error'));
    this.faults = {
      dropDevice: (deviceId) => {
        const open = this.#registry.withDevice(deviceId);
        for (const { session } of open) session.terminate();
        return open.length > 0;
      },
      silence: (deviceId, on) => {
        if (deviceId === '*') {
          this.#silenced.all = on;
          if (!on) this.#silenced.devices.clear();
        } else if (on) this.#silenced.devices.add(deviceId);
        else this.#silenced.devices.delete(deviceId);
      },
      tokenEndpoint: (behaviour) => this.#tokenFaults?.setBehaviour(behaviour),
    };
  }

  /**
   * Starts listening. Resolves with the device endpoint's URL.
   *
   * @example
   * const { url } = await hub.listen({ port: 0 }); // 'ws://127.0.0.1:40123/v1/connect'
   */
  listen({ port = 0, host = '127.0.0.1' }: HubListenOptions = {}): Promise<HubAddress> {
    return this.#serialize(async () => {
      if (this.#state !== 'idle') throw new HubError('invalid_state', `cannot listen: the hub is ${this.#state}`);
      const bound = await this.#bind(port, host);
      this.#address = { host, port: bound };
      this.#state = 'listening';
      this.#log.info({ port: bound, host }, 'hub listening');
      return { url: `ws://${host.includes(':') ? `[${host}]` : host}:${bound}${CONNECT_PATH}`, port: bound };
    });
  }

  /**
   * The open (authenticated) sessions, one per (tenant, device).
   *
   * @example
   * hub.devices(); // [{ device_id: 'laptop-1', tenant_id: 'acme', session_id: '…', connected_since: 1767225600000 }]
   */
  devices(): SessionInfo[] {
    return Array.from(this.#registry.values(), ({ info }) => ({ ...info }));
  }

  /**
   * Sends a message to a device and returns the message id. Without `tenantId` the device id
   * must be connected in exactly one tenant.
   *
   * @throws {HubError} `not_connected`, `ambiguous_device` or `invalid_message`.
   * @example
   * const id = hub.dispatch('laptop-1', {
   *   type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo',
   * }, { tenantId: 'acme' });
   */
  dispatch(deviceId: string, message: DispatchMessage, options: { tenantId?: string } = {}): string {
    if (!dispatchable.has(message.type)) {
      const why = direction[message.type] === 'to_hub' ? 'is sent by devices' : 'is sent by the hub itself';
      throw new HubError('invalid_message', `cannot dispatch '${message.type}': it ${why}`);
    }
    const session = this.#find(deviceId, options.tenantId);
    try {
      return session.send(message);
    } catch (error) {
      if (error instanceof FrameError) throw new HubError('invalid_message', error.message, { cause: error });
      throw error;
    }
  }

  /**
   * Signs a device token, as `POST /v1/device-token` would, without asking for a credential
   * or checking revocation. For tests and for hosts that enrol devices their own way.
   *
   * @throws {HubError} `tokens_disabled` when the hub was created without `tokens`.
   * @example
   * const { token, expiresAt, jti } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
   */
  async issueToken({ device_id, tenant_id }: { device_id: string; tenant_id: string }): Promise<IssuedToken> {
    return this.#requireAuthority().issue({ sub: device_id, tenant: tenant_id });
  }

  /**
   * The public keys that verify the hub's tokens (also served at `/.well-known/jwks.json`).
   *
   * @throws {HubError} `tokens_disabled` when the hub was created without `tokens`.
   * @example
   * const { keys } = await hub.jwks(); // [{ kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' }]
   */
  async jwks(): Promise<JSONWebKeySet> {
    return this.#requireAuthority().jwks();
  }

  /**
   * Makes a new key sign tokens. The old key keeps verifying (and stays in the JWKS) until
   * every token it signed has expired, `lifetimeMs + leewayMs` after the rotation. Resolves
   * with the new key's `kid`.
   *
   * @throws {HubError} `tokens_disabled` when the hub was created without `tokens`.
   * @example
   * const kid = await hub.rotateKeys();
   */
  async rotateKeys(): Promise<string> {
    const kid = await this.#requireAuthority().rotate();
    this.#log.info({ kid }, 'signing key rotated');
    return kid;
  }

  /**
   * Revokes a device: its open sessions close with `4007 revoked`, and its tokens, its
   * `connect`s (whatever the credential) and its token requests are refused until
   * {@link Hub.unrevokeDevice}. Without `tenantId`, the device id is revoked in every tenant.
   * Returns how many sessions it closed.
   *
   * @example
   * hub.revokeDevice('laptop-1', { tenantId: 'acme' }); // 1
   */
  revokeDevice(deviceId: string, { tenantId }: { tenantId?: string } = {}): number {
    this.#revocations.revokeDevice(deviceId, tenantId);
    const open = this.#registry.withDevice(deviceId).filter(({ info }) => tenantId === undefined || info.tenant_id === tenantId);
    for (const { session } of open) session.close(CloseCode.revoked, 'revoked');
    this.#log.warn({ device_id: deviceId, tenant_id: tenantId, closed: open.length }, 'device revoked');
    return open.length;
  }

  /**
   * Lifts a device revocation. Without `tenantId` every revocation of the device id is lifted;
   * with one, that tenant's (a revocation made without a tenant stays).
   *
   * @example
   * hub.unrevokeDevice('laptop-1', { tenantId: 'acme' });
   */
  unrevokeDevice(deviceId: string, { tenantId }: { tenantId?: string } = {}): void {
    this.#revocations.unrevokeDevice(deviceId, tenantId);
    this.#log.info({ device_id: deviceId, tenant_id: tenantId }, 'device revocation lifted');
  }

  /**
   * Revokes one token by its `jti`: it is refused from now on (on `connect` and
   * `auth_refresh`), and a session living on it (not refreshed since) closes with
   * `4007 revoked`. Returns how many sessions it closed.
   *
   * @example
   * const { jti } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
   * hub.revokeToken(jti);
   */
  revokeToken(jti: string): number {
    this.#revocations.revokeToken(jti);
    const open = Array.from(this.#registry.values()).filter(({ session }) => session.tokenId === jti);
    for (const { session } of open) session.close(CloseCode.revoked, 'revoked');
    this.#log.warn({ jti, closed: open.length }, 'token revoked');
    return open.length;
  }

  /**
   * Approves a device login waiting on `userCode` (what the user does in a browser): the
   * device's next poll of `POST /v1/oauth/token` gets a user access token for `userId` in
   * `organization` (default: the user's first) and a refresh token. Case, dashes and spaces
   * in the user code do not matter. Also `POST /v1/oauth/approve`.
   *
   * @throws {HubError} `unknown_user_code` (unknown, expired, or already approved or denied),
   *   `unknown_user`, `not_a_member`, or `tokens_disabled`.
   * @example
   * // the device showed "WDJB-MJHT" to its user
   * hub.approveDeviceLogin('WDJB-MJHT', { userId: 'ada', organization: 'acme' });
   */
  approveDeviceLogin(userCode: string, { userId, organization }: { userId: string; organization?: string }): void {
    const approved = this.#requireLogins().approve(userCode, organization === undefined ? { userId } : { userId, organization });
    this.#log.info({ login: approved.loginId, user_id: userId, organization: approved.organization }, 'device login approved');
  }

  /**
   * Denies a device login waiting on `userCode`: the device's next poll gets `access_denied`.
   *
   * @throws {HubError} `unknown_user_code` or `tokens_disabled`.
   * @example
   * hub.denyDeviceLogin('WDJB-MJHT');
   */
  denyDeviceLogin(userCode: string): void {
    const { loginId } = this.#requireLogins().deny(userCode);
    this.#log.info({ login: loginId }, 'device login denied');
  }

  /**
   * Closes every session with `1012 server_restart`, stops listening, waits `downMs` (on the
   * hub's clock), and listens again on the same host and port.
   *
   * @example
   * await hub.restart({ downMs: 500 }); // devices see 1012, then reconnect to the same URL
   */
  restart({ downMs = 0 }: { downMs?: number } = {}): Promise<void> {
    return this.#serialize(async () => {
      const address = this.#address;
      if (this.#state !== 'listening' || !address) throw new HubError('invalid_state', `cannot restart: the hub is ${this.#state}`);
      this.#state = 'restarting';
      this.#log.info({ down_ms: downMs }, 'hub restarting');
      await this.#shutdown(CloseCode.serverRestart, 'server_restart');
      if (downMs > 0) await new Promise<void>((resolve) => this.#options.clock.setTimeout(resolve, downMs));
      await this.#bind(address.port, address.host);
      this.#state = 'listening';
      this.#log.info(address, 'hub listening again');
    });
  }

  /**
   * Closes every session with `1001 going_away` and stops listening. Resolves once every
   * socket is closed. Idempotent: later calls return the same promise.
   *
   * @example
   * process.once('SIGTERM', () => void hub.close());
   */
  close(): Promise<void> {
    this.#closing ??= this.#serialize(async () => {
      const wasListening = this.#server.listening;
      this.#state = 'closed';
      if (wasListening) await this.#shutdown(CloseCode.goingAway, 'going_away');
      this.#wss.close();
      this.#log.info('hub closed');
    });
    return this.#closing;
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // After 'upgrade' node no longer handles this socket's errors: a reset must not crash us.
    socket.on('error', () => socket.destroy());
    if (pathOf(req.url) !== CONNECT_PATH) return refuseUpgrade(socket, 404);
    // A keep-alive connection may ask to upgrade while we restart or close.
    if (this.#state !== 'listening') return refuseUpgrade(socket, 503);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new Session(ws, this.#host, req.socket.remoteAddress);
      this.#sessions.add(session);
    });
  }

  #requireLogins(): UserLogins {
    if (!this.#logins) throw new HubError('tokens_disabled', 'this hub has no user logins: create it with the tokens option');
    return this.#logins;
  }

  /**
   * Revokes a login (a refresh-token family): its refresh tokens stop working, its access
   * tokens are refused, and sessions living on one close with `4007 revoked`.
   */
  #revokeLogin(familyId: string, reason: 'logout' | 'refresh_token_replay'): number {
    const revoked = this.#logins?.revokeFamily(familyId);
    if (!revoked) return 0;
    const jtis = new Set(revoked.accessTokens);
    for (const jti of jtis) this.#revocations.revokeToken(jti);
    const open = Array.from(this.#registry.values()).filter(({ session }) => session.tokenId !== undefined && jtis.has(session.tokenId));
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

  #register(session: Session, info: SessionInfo): void {
    const previous = this.#registry.set(info.tenant_id, info.device_id, { session, info });
    previous?.session.close(CloseCode.replaced, 'replaced');
  }

  #forget(session: Session): void {
    this.#sessions.delete(session);
    const info = session.info;
    if (!info) return;
    const entry = this.#registry.get(info.tenant_id, info.device_id);
    // A replaced session must not unregister its successor.
    if (entry?.session === session) this.#registry.delete(info.tenant_id, info.device_id);
  }

  #find(deviceId: string, tenantId: string | undefined): Session {
    if (tenantId !== undefined) {
      const entry = this.#registry.get(tenantId, deviceId);
      if (!entry) throw new HubError('not_connected', `device '${deviceId}' of tenant '${tenantId}' is not connected`);
      return entry.session;
    }
    const [only, ...others] = this.#registry.withDevice(deviceId);
    if (!only) throw new HubError('not_connected', `device '${deviceId}' is not connected`);
    if (others.length > 0) {
      throw new HubError('ambiguous_device', `device '${deviceId}' is connected in ${others.length + 1} tenants; pass tenantId`);
    }
    return only.session;
  }

  /** A throwing listener is a bug in the host app; it must not end a device's session. */
  #emitSafely<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): void {
    try {
      // The generic K does not narrow HubEvents[K] for EventEmitter's overloads.
      (this.emit as (event: K, ...args: HubEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ err: error, event }, 'a hub event listener threw');
    }
  }

  #bind(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting, closes every session with `code`, and resolves once all is closed. */
  async #shutdown(code: number, reason: string): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    const sessions = [...this.#sessions];
    for (const session of sessions) session.close(code, reason);
    await Promise.all(sessions.map((session) => session.closed));
    // An admin request still in flight (or a token request parked by a fault) must not hold the port.
    this.#server.closeAllConnections();
    this.#tokenFaults?.abandon();
    await stopped;
  }

  #serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#lifecycle.then(operation);
    this.#lifecycle = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/**
 * Creates a hub. Call `listen()` to start it.
 *
 * @example
 * const hub = createHub({ staticToken: process.env.HUB_TOKEN });
 * hub.on('message', (session, message) => console.log(session.device_id, message.type));
 * const { url } = await hub.listen({ port: 8080 });
 * // later
 * hub.dispatch('laptop-1', { type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo' });
 * await hub.close();
 *
 * @example
 * // A token issuer: devices trade their secret for a 15-minute JWT at POST /v1/device-token.
 * const hub = createHub({
 *   tokens: { deviceCredentials: [{ tenant_id: 'acme', secret: process.env.ACME_ENROLLMENT_SECRET! }] },
 * });
 */
export function createHub(options: HubOptions): Hub {
  return new Hub(options);
}

function refuseUpgrade(socket: Duplex, status: 404 | 503): void {
  const body = JSON.stringify({ error: status === 404 ? 'not_found' : 'unavailable' });
  // Wait for the response to be flushed before destroying, as ws's own abortHandshake does.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
