import { randomUUID } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from '../../log/logger.ts';
import {
  type CodecResult,
  CloseCode,
  type ErrorCode,
  FrameError,
  type Message,
  type MessageOf,
  type Outbound,
} from '../../protocol/index.ts';
import { capabilitiesSpoken } from '../../protocol/capabilities.ts';
import { type Built, heartbeatAckMessage, type PreparedMessage } from '../../protocol/built-messages.ts';
import { withFields } from '../../util/with-fields.ts';
import { holdWrites, releaseWrites } from '../../adapters/write-batch.ts';
import type { ThrottledVerdict } from '../auth/credential-check.ts';
import type { HubTokenClaims } from '../auth/token-authority.ts';
import { isStaleHolder, TokenError, type TokenErrorCode } from '../core/errors.ts';
import { retryAfterSeconds } from '../throttle/throttled-reply.ts';
import type { SessionInfo } from '../core/events.ts';
import { createRateWindow, type RateWindow } from './rate-window.ts';
import { MAX_UNREAD_BYTES, ReadGate } from './read-gate.ts';
import type { SessionHost } from './session-host.ts';

type Who = { device_id: string; tenant_id: string };

/** Bad frames are counted over this window against `maxBadFrames`. */
const BAD_FRAME_WINDOW_MS = 60_000;
/** Frames a device may pipeline behind `connect` while `authenticate` runs. */
const MAX_PENDING_FRAMES = 32;

type Phase = 'handshake' | 'authenticating' | 'open' | 'closing' | 'closed';

/**
 * One device socket, from the upgrade to the close: the `connect` handshake, liveness, and
 * the validation of every frame. A session only talks to its own socket and to its
 * {@link SessionHost}.
 */
export class Session {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  #info: SessionInfo | null = null;
  #phase: Phase = 'handshake';
  /** What this session's log lines carry: the remote address, then the session's info. */
  #logBindings: Record<string, unknown>;
  /** Where the socket came from: the throttle of failed credentials counts by it. */
  readonly #address: string;
  #logger: Logger | undefined;
  /** The `device_id` the device claimed, known from `connect` on (for `faults.silence`). */
  #deviceId: string | undefined;
  /** Frames received while `authenticate` runs, handled in order once it settles. */
  #pending: Buffer[] = [];
  #lastSeen: number;
  #timer: unknown = undefined;
  /** The close the hub initiated, reported in `session_close` instead of the device's echo. */
  #closing: { code: number; reason: string } | undefined;
  /** The hub-issued token the session lives on; undefined for a static credential. */
  #token: { jti: string; expiresAt: number } | undefined;
  /** Fires when the token expires (exp + leeway); re-armed by each refresh. */
  #expiryTimer: unknown = undefined;
  /** Refreshes are verified one after the other, so the last one sent is the one that holds. */
  #refreshing: Promise<void> = Promise.resolve();
  readonly #badFrames: RateWindow;
  /** Stops reading a device that does not read what it is answered. */
  readonly #gate: ReadGate;
  readonly #ws: WebSocket;
  readonly #host: SessionHost;

  /**
   * The session's child logger, made on its first line, once per session (a pino child holds
   * about 0.8 KiB; bench/scale). A silent hub writes nothing, so it needs no child at all.
   */
  get #log(): Logger {
    const root = this.#host.logger;
    if (root.level === 'silent') return root;
    return (this.#logger ??= root.child(this.#logBindings));
  }

  /** `remoteAddress`: where the socket came from (`clientAddress`), for log lines and the throttle of failed credentials. */
  constructor(ws: WebSocket, host: SessionHost, remoteAddress: string | undefined) {
    this.#ws = ws;
    this.#gate = new ReadGate(ws, MAX_UNREAD_BYTES, () => host.options.clock.now());
    this.#host = host;
    const { clock, handshakeTimeoutMs } = host.options;
    this.#logBindings = { remote: remoteAddress };
    this.#address = remoteAddress ?? '';
    this.#lastSeen = clock.now();
    this.#badFrames = createRateWindow(BAD_FRAME_WINDOW_MS, () => clock.now());
    let resolveClosed: () => void = () => {};
    this.closed = new Promise((resolve) => {
      resolveClosed = resolve;
    });

    ws.on('message', (data: RawData) => this.#receive(data));
    // Control frames count as liveness too; ws answers pings itself.
    ws.on('ping', () => this.#touch());
    ws.on('pong', () => this.#touch());
    ws.on('error', (error: Error & { code?: string }) => this.#socketError(error));
    ws.on('close', (code: number, reason: Buffer) => {
      this.#onClose(code, reason.toString('utf8'));
      resolveClosed();
    });
    this.#arm(handshakeTimeoutMs, () => this.close(CloseCode.handshakeTimeout, 'handshake_timeout'));
  }

  /** Who is on the other end; null until the device is authenticated. */
  get info(): SessionInfo | null {
    return this.#info;
  }

  /** The `jti` of the token the session lives on now; undefined for a static credential. */
  get tokenId(): string | undefined {
    return this.#token?.jti;
  }

  /**
   * Encodes and sends a to-device message and returns its id. Throws the {@link FrameError}
   * when the message does not encode. While the hub is silenced towards the device the frame
   * is encoded but not sent, as if lost on the way.
   */
  send(message: Outbound): string {
    const encoded = this.#host.codec.encode(message);
    if (!encoded.ok) throw encoded.error;
    this.#write(encoded.value.frame);
    return encoded.value.message.id;
  }

  /**
   * {@link send} for a message made by a typed constructor (src/protocol/built-messages.ts):
   * encoded without the schema pass its constructor stands in for.
   */
  sendBuilt(message: Built): string {
    const encoded = this.#host.codec.encodeBuilt(message);
    if (!encoded.ok) throw encoded.error;
    this.#write(encoded.value.frame);
    return encoded.value.message.id;
  }

  /**
   * {@link send} for a message serialised once where it was queued (`Codec.prepare`): numbered
   * `seq` and stamped afresh, not serialised again.
   */
  sendPrepared(prepared: PreparedMessage, seq: number): string {
    const encoded = this.#host.codec.encodePrepared(prepared, seq);
    if (!encoded.ok) throw encoded.error;
    this.#write(encoded.value.frame);
    return encoded.value.id;
  }

  #write(frame: string): void {
    if (this.#ws.readyState !== WebSocket.OPEN || this.#host.isSilenced(this.#deviceId)) return;
    // This turn's frames to the device leave in one write (src/adapters/write-batch.ts).
    holdWrites(this.#ws);
    this.#ws.send(frame, this.#gate.written);
  }

  /** Starts the closing handshake. Idempotent; the first close wins. */
  close(code: number, reason: string): void {
    if (this.#phase === 'closing' || this.#phase === 'closed') return;
    this.#markClosing(code, reason);
    this.#ws.close(code, reason);
  }

  /** Destroys the socket without a close frame, like a network drop. */
  terminate(): void {
    releaseWrites(this.#ws);
    this.#ws.terminate();
  }

  #receive(data: RawData): void {
    this.#touch();
    this.#gate.check();
    // binaryType is ws's default 'nodebuffer', so every message arrives as one Buffer.
    const frame = data as Buffer;
    if (this.#phase === 'authenticating') {
      if (this.#pending.push(frame) > MAX_PENDING_FRAMES) this.close(CloseCode.policyViolation, 'too_many_frames_before_ack');
      return;
    }
    this.#guarded(frame);
  }

  #handle(frame: Buffer): void {
    if (this.#phase === 'closing' || this.#phase === 'closed') return;
    const decoded = this.#host.codec.decode(frame);
    const info = this.#info;
    if (info === null) return this.#handshake(decoded);
    if (!decoded.ok) return this.#refuse(decoded.error);

    const message = decoded.value;
    switch (message.type) {
      case 'connect':
        return this.#refuse(violation(message, 'connect: this session is already established'));
      case 'heartbeat':
        this.sendBuilt(heartbeatAckMessage(message.seq, this.#host.options.clock.now()));
        return;
      case 'auth_refresh':
        return this.#refresh(message, info);
      case 'execution_event':
      case 'usage_report':
      case 'messaging_reply':
      case 'ack':
      case 'nack':
      case 'capacity':
      case 'error':
      case 'channel_join':
      case 'channel_leave':
      case 'channel_message':
      case 'capability_reload_result':
      case 'settings_subscribe':
      case 'settings_reported':
        // Per frame: not even the line's fields unless someone reads debug lines.
        if (this.#host.logger.isLevelEnabled('debug')) this.#log.debug({ type: message.type, id: message.id }, 'message');
        return this.#host.receive(this, info, message);
    }
  }

  /** The first frame: anything but a valid `connect` ends the socket. */
  #handshake(decoded: CodecResult<Message>): void {
    if (!decoded.ok) return this.#reject(decoded.error);
    const message = decoded.value;
    if (message.type !== 'connect') {
      // The frame itself is fine; it came too early. The event keeps its FrameError shape.
      return this.#reject(violation(message, `the first frame must be 'connect', got '${message.type}'`), 'not_connected');
    }
    this.#phase = 'authenticating';
    this.#deviceId = message.device_id;
    this.#authenticate(message).catch((error: unknown) => this.#internalError(error));
  }

  async #authenticate(connect: MessageOf<'connect'>): Promise<void> {
    const who = { device_id: connect.device_id, tenant_id: connect.tenant_id };
    let verdict: ThrottledVerdict;
    try {
      verdict = await this.#host.checkCredential(connect.token, who, this.#address);
    } catch (error) {
      if (this.#phase !== 'authenticating') return;
      // Log the error's name only: an authenticate() message may quote the token.
      this.#log.error({ ...who, error: error instanceof Error ? error.name : typeof error }, 'authenticate threw');
      this.#sendError('internal', 'authentication is unavailable, try again later', connect.id);
      return this.close(CloseCode.tryAgainLater, 'auth_unavailable');
    }
    // The socket may have closed meanwhile (handshake timeout, hub shutdown).
    if (this.#phase !== 'authenticating') return;
    if (!verdict.ok && verdict.code === 'too_many_attempts') return this.#refuseThrottled(verdict.retryAfterMs, connect.id);
    if (!verdict.ok) return this.#refuseCredential(verdict.code, connect.id, who);
    const { credential } = verdict;
    const claims = credential.via === 'token' ? credential.claims : undefined;
    // Checked again right before opening: a revocation may have landed while we awaited.
    if (this.#host.isRevoked(who, claims?.jti)) return this.#refuseCredential('revoked', connect.id, who);
    if (claims) this.#token = { jti: claims.jti, expiresAt: claims.exp * 1000 };
    this.#open(who, connect, claims?.kind === 'user' ? claims.sub : undefined);
  }

  /**
   * A refused `connect`: the `error` frame names the reason (a {@link TokenErrorCode}, never
   * the token), and the close code tells the connector what to do next.
   */
  #refuseCredential(code: TokenErrorCode | 'refused', refId: string, who: Who): void {
    this.#log.warn({ ...who, reason: code }, 'authentication failed');
    this.#sendError('auth_failed', code === 'refused' ? 'authentication failed' : code, refId);
    if (code === 'expired') return this.close(CloseCode.tokenExpired, 'token_expired');
    if (code === 'revoked') return this.close(CloseCode.revoked, 'revoked');
    this.close(CloseCode.authFailed, 'auth_failed');
  }

  /**
   * A `connect` from a locked-out address (or for a locked-out device): its credential was not
   * looked at. The `error` frame says so and when to try again; `1013 try_again_later` makes the
   * connector come back after a spread delay. Not logged: the throttle logs each lock-out once.
   */
  #refuseThrottled(retryAfterMs: number, refId: string): void {
    const retryAfterS = retryAfterSeconds(retryAfterMs);
    this.#sendError('auth_failed', `too_many_attempts: retry in ${retryAfterS} s`, refId, {
      reason: 'too_many_attempts',
      retry_after_s: retryAfterS,
    });
    this.close(CloseCode.tryAgainLater, 'too_many_attempts');
  }

  /** `userId`: the user a user token speaks for (settings follow the user, not the device). */
  #open(who: Who, connect: MessageOf<'connect'>, userId: string | undefined): void {
    const { clock } = this.#host.options;
    const info: SessionInfo = {
      ...who,
      ...(userId !== undefined && { user_id: userId }),
      session_id: randomUUID(),
      connected_since: clock.now(),
      ...(connect.runtime && { runtime: connect.runtime }),
    };
    this.#info = info;
    this.#phase = 'open';
    this.#disarm();
    this.#logBindings = withFields(this.#logBindings, info);
    this.#logger = undefined;
    // Register before acknowledging: the replaced session closes after this one is listed.
    const registered = this.#host.register(this, info);
    if (!registered) return this.#acknowledge(who, connect, info);
    // Several nodes: acknowledged once the device is this node's; frames wait meanwhile.
    this.#phase = 'authenticating';
    registered.then(
      () => {
        if (this.#phase === 'authenticating') this.#acknowledge(who, connect, info);
      },
      (error: unknown) => {
        if (this.#phase !== 'authenticating') return;
        if (isStaleHolder(error)) return this.close(CloseCode.replaced, 'replaced');
        this.#log.error({ err: error }, 'cannot claim the device for this session');
        this.#sendError('internal', 'the hub cannot take the session now, try again later', connect.id);
        this.close(CloseCode.tryAgainLater, 'claim_failed');
      },
    );
  }

  /** The session is the device's: `connect_ack` with where delivery resumes, then what waits. */
  #acknowledge(who: Who, connect: MessageOf<'connect'>, info: SessionInfo): void {
    const { clock, heartbeatIntervalMs, heartbeatTimeoutMs, maxFrameBytes } = this.#host.options;
    this.#phase = 'open';
    this.send({
      type: 'connect_ack',
      session_id: info.session_id,
      heartbeat_interval_ms: heartbeatIntervalMs,
      heartbeat_timeout_ms: heartbeatTimeoutMs,
      server_time: clock.now(),
      max_frame_bytes: maxFrameBytes,
      resume: this.#host.resume(who, connect),
      // Only to a device that announced some: a v1 device gets the v1 answer, byte for byte.
      ...(connect.capabilities && { capabilities: connect.capabilities.filter((name) => capabilitiesSpoken.includes(name)) }),
    });
    this.#host.opened(this, info);
    this.#lastSeen = clock.now();
    this.#arm(heartbeatIntervalMs + heartbeatTimeoutMs, this.#checkLiveness);
    this.#armExpiry();
    this.#log.info(this.#token ? { jti: this.#token.jti, expires_at: this.#token.expiresAt } : {}, 'session opened');
    this.#host.emit('session_open', info);

    const pending = this.#pending;
    this.#pending = [];
    for (const frame of pending) this.#guarded(frame);
  }

  /**
   * Runs when the device may have been quiet too long. Frames only record the time they were
   * seen; this one timer compares, and re-arms for the time left.
   */
  readonly #checkLiveness = (): void => {
    const { clock, heartbeatIntervalMs, heartbeatTimeoutMs } = this.#host.options;
    const limit = heartbeatIntervalMs + heartbeatTimeoutMs;
    const now = clock.now();
    // While the hub plays dead, a quiet device is the hub's doing: do not hold it against it.
    if (this.#host.isSilenced(this.#deviceId)) this.#lastSeen = now;
    // Nor frames we stopped reading: a device that reads what we sent, however slowly, is alive.
    if (this.#gate.paused) this.#lastSeen = Math.max(this.#lastSeen, this.#gate.lastWritten);
    const idle = now - this.#lastSeen;
    if (idle >= limit) {
      this.#log.info({ idle_ms: idle }, 'heartbeat timeout');
      return this.close(CloseCode.heartbeatTimeout, 'heartbeat_timeout');
    }
    this.#arm(limit - idle, this.#checkLiveness);
  };

  /**
   * `auth_refresh`: a fresh hub token moves the session's expiry; a refused one is answered
   * with `error{auth_failed}` and the session goes on until its current token expires.
   */
  #refresh(message: MessageOf<'auth_refresh'>, info: SessionInfo): void {
    if (!this.#token) {
      this.#log.warn('token refresh refused: static credential');
      return this.#sendError('auth_failed', 'static credentials do not refresh', message.id);
    }
    const who = { device_id: info.device_id, tenant_id: info.tenant_id };
    this.#refreshing = this.#refreshing.then(() => this.#applyRefresh(message, who)).catch((error: unknown) => this.#internalError(error));
  }

  async #applyRefresh(message: MessageOf<'auth_refresh'>, who: Who): Promise<void> {
    let claims: HubTokenClaims;
    try {
      claims = await this.#host.verifyToken(message.token, who);
      if (this.#host.isRevoked(who, claims.jti)) throw new TokenError('revoked');
    } catch (error) {
      if (this.#phase !== 'open') return;
      const code = error instanceof TokenError ? error.code : 'malformed';
      this.#log.warn({ reason: code }, 'token refresh refused');
      return this.#sendError('auth_failed', code, message.id);
    }
    if (this.#phase !== 'open') return;
    this.#token = { jti: claims.jti, expiresAt: claims.exp * 1000 };
    this.#armExpiry();
    this.#log.info({ jti: claims.jti, expires_at: this.#token.expiresAt }, 'token refreshed');
    this.send({ type: 'auth_refresh_ack', expires_at: this.#token.expiresAt });
  }

  /** Closes the session `4002` once its token is past `exp` + leeway. */
  #armExpiry(): void {
    this.#disarmExpiry();
    const token = this.#token;
    const { clock, tokens } = this.#host.options;
    if (!token || !tokens) return;
    const at = token.expiresAt + tokens.leewayMs;
    this.#expiryTimer = clock.setTimeout(
      () => {
        this.#expiryTimer = undefined;
        this.#log.info({ jti: token.jti, expires_at: token.expiresAt }, 'token expired');
        this.close(CloseCode.tokenExpired, 'token_expired');
      },
      Math.max(0, at - clock.now()),
    );
  }

  #disarmExpiry(): void {
    if (this.#expiryTimer === undefined) return;
    this.#host.options.clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }

  /** A bad frame on an open session: answer with an `error` frame and carry on, within limits. */
  #refuse(error: FrameError): void {
    this.#log.debug({ code: error.code, type: error.detail.type, ref_id: error.detail.messageId }, 'bad frame');
    this.#host.emit('frame_error', this.#info, error);
    this.#sendError(error.code, error.message, error.detail.messageId);
    if (error.code === 'unsupported_version') return this.close(CloseCode.unsupportedVersion, 'unsupported_version');
    if (this.#badFrames.hit() > this.#host.options.maxBadFrames) {
      this.#log.warn('too many bad frames');
      this.close(CloseCode.policyViolation, 'too_many_bad_frames');
    }
  }

  /** A bad first frame: answer with an `error` frame (of `code`, default the error's) and close. */
  #reject(error: FrameError, code: ErrorCode = error.code): void {
    this.#log.debug({ code, type: error.detail.type }, 'bad first frame');
    this.#host.emit('frame_error', null, error);
    this.#sendError(code, error.message, error.detail.messageId);
    if (error.code === 'unsupported_version') return this.close(CloseCode.unsupportedVersion, 'unsupported_version');
    this.close(CloseCode.policyViolation, 'expected_connect');
  }

  #sendError(code: MessageOf<'error'>['code'], message: string, refId: string | undefined, details?: MessageOf<'error'>['details']): void {
    this.send({ type: 'error', code, message, ref_id: refId, ...(details !== undefined && { details }) });
  }

  #socketError(error: Error & { code?: string }): void {
    // ws closes the socket itself after an error (1009 for an oversized frame); 'close' follows.
    this.#log.warn({ error: error.message, error_code: error.code }, 'socket error');
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || error.code === 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH') {
      // ws sent 1009 and stopped reading, so the device's echo never arrives and 'close'
      // would report 1006: record the close we made.
      this.#markClosing(CloseCode.tooLarge, 'too_large');
      this.#host.emit('frame_error', this.#info, new FrameError('too_large', error.message));
    }
  }

  /** Records a close (ours, or one ws made on its own) and stops the session's timers. */
  #markClosing(code: number, reason: string): void {
    if (this.#phase === 'closing' || this.#phase === 'closed') return;
    this.#phase = 'closing';
    this.#closing = { code, reason };
    this.#disarm();
    this.#disarmExpiry();
  }

  #onClose(code: number, reason: string): void {
    this.#phase = 'closed';
    this.#disarm();
    this.#disarmExpiry();
    this.#pending = [];
    this.#host.forget(this);
    const reported = this.#closing ?? { code, reason };
    this.#log.info(reported, 'socket closed');
    if (this.#info) this.#host.emit('session_close', this.#info, reported.code, reported.reason);
  }

  #touch(): void {
    this.#lastSeen = this.#host.options.clock.now();
  }

  /** One timer per session: the handshake deadline, then the liveness check. */
  #arm(ms: number, fn: () => void): void {
    this.#disarm();
    this.#timer = this.#host.options.clock.setTimeout(fn, ms);
  }

  #disarm(): void {
    if (this.#timer === undefined) return;
    this.#host.options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Handles a frame; bad input must never take the process down, so anything a handler throws is
   * contained. No closure per frame: this runs for every frame a device sends.
   */
  #guarded(frame: Buffer): void {
    try {
      this.#handle(frame);
    } catch (error) {
      this.#internalError(error);
    }
  }

  #internalError(error: unknown): void {
    this.#log.error({ err: error }, 'internal error while handling a frame');
    this.close(CloseCode.internalError, 'internal_error');
  }
}

function violation(message: Message, text: string): FrameError {
  return new FrameError('schema_violation', text, { messageId: message.id, type: message.type });
}
