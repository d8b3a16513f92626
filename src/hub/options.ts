import { z } from 'zod';
import { type Logger, silentLogger } from '../log/logger.ts';
import { ConnectAckMessage, MAX_FRAME_BYTES } from '../protocol/index.ts';
import { HubError } from './errors.ts';
import { safeEqual } from './safe-equal.ts';

/** Decides whether a `connect` may open a session. Throwing means "cannot tell right now". */
export type Authenticate = (
  token: string,
  who: { device_id: string; tenant_id: string },
) => boolean | Promise<boolean>;

/** The hub's source of time. Tests inject a manual clock; the default is the real one. */
export interface HubClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Options of {@link createHub}. Pass exactly one of `authenticate` and `staticToken`. */
export interface HubOptions {
  /** Checks a device's credential. Throwing refuses the device with `1013 try_again_later`. */
  authenticate?: Authenticate;
  /** Shorthand for an `authenticate` that accepts this one token (compared in constant time). */
  staticToken?: string;
  /** Announced in `connect_ack`: how often devices send `heartbeat`. Default 25 000. */
  heartbeatIntervalMs?: number;
  /**
   * Announced in `connect_ack`. The hub closes a session with `4006 heartbeat_timeout` after
   * `heartbeatIntervalMs + heartbeatTimeoutMs` without any frame. Default 10 000.
   */
  heartbeatTimeoutMs?: number;
  /** A socket without an accepted `connect` by then is closed with `4005`. Default 10 000. */
  handshakeTimeoutMs?: number;
  /** Largest inbound frame; larger ones close the socket with `1009`. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Bad frames tolerated per session per minute; one more closes it with `1008`. Default 10. */
  maxBadFrames?: number;
  /** When set, admin routes (except `/healthz`) need `authorization: Bearer <adminToken>`. */
  adminToken?: string;
  /** pino logger; secrets are redacted by `createLogger`. Default: silent. */
  logger?: Logger;
  /** Default: `Date.now` and the global timers. */
  clock?: HubClock;
}

/** {@link HubOptions} after validation, with every default filled in. */
export interface ResolvedHubOptions {
  authenticate: Authenticate;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxFrameBytes: number;
  maxBadFrames: number;
  adminToken: string | undefined;
  logger: Logger;
  clock: HubClock;
}

const isFunction = (value: unknown): boolean => typeof value === 'function';
const hasMethods =
  (...names: string[]) =>
  (value: unknown): boolean =>
    typeof value === 'object' &&
    value !== null &&
    names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

const HubOptionsSchema = z.object({
  authenticate: z.custom<Authenticate>(isFunction, 'authenticate must be a function').optional(),
  staticToken: z.string().min(1).optional(),
  // The announced values must pass the connect_ack schema, so reuse its bounds.
  heartbeatIntervalMs: ConnectAckMessage.shape.heartbeat_interval_ms.default(25_000),
  heartbeatTimeoutMs: ConnectAckMessage.shape.heartbeat_timeout_ms.default(10_000),
  handshakeTimeoutMs: z.number().int().positive().default(10_000),
  // Below ~1 KiB a connect frame with a real token would not fit.
  maxFrameBytes: z.number().int().min(1024).default(MAX_FRAME_BYTES),
  maxBadFrames: z.number().int().nonnegative().default(10),
  adminToken: z.string().min(1).optional(),
  logger: z.custom<Logger>(hasMethods('child', 'info'), 'logger must be a pino logger').optional(),
  clock: z.custom<HubClock>(hasMethods('now', 'setTimeout', 'clearTimeout'), 'clock must have now, setTimeout and clearTimeout').optional(),
});

/** The real clock. */
export const realClock: HubClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Validates options and fills in defaults. Throws a {@link HubError} `invalid_options`; its
 * message names the offending fields, never their values (one may be a token).
 *
 * @example
 * const options = resolveHubOptions({ staticToken: 'dev-token' });
 * options.heartbeatIntervalMs; // 25000
 */
export function resolveHubOptions(input: HubOptions): ResolvedHubOptions {
  const parsed = HubOptionsSchema.safeParse(input);
  if (!parsed.success) throw new HubError('invalid_options', `invalid hub options:\n${z.prettifyError(parsed.error)}`);
  const { authenticate, staticToken, adminToken, logger, clock, ...limits } = parsed.data;
  let check: Authenticate;
  if (authenticate && staticToken === undefined) check = authenticate;
  else if (staticToken !== undefined && !authenticate) check = (token) => safeEqual(token, staticToken);
  else throw new HubError('invalid_options', 'invalid hub options: pass exactly one of authenticate and staticToken');
  return {
    ...limits,
    authenticate: check,
    adminToken,
    logger: logger ?? silentLogger(),
    clock: clock ?? realClock,
  };
}
