import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { z } from 'zod';
import { assertEntryName } from '../../adapters/storage.ts';
import { DEFAULT_RATE_LIMIT, RateLimit } from '../../api/contract.ts';
import { safeEqual } from '../../http/safe-equal.ts';
import { type Logger, silentLogger } from '../../log/logger.ts';
import { ConnectAckMessage, MAX_FRAME_BYTES } from '../../protocol/index.ts';
import { HubError } from './errors.ts';
import type { SigningKeyPair } from './signing-key-pair.ts';

/** Decides whether a `connect` may open a session. Throwing means "cannot tell right now". */
export type Authenticate = (token: string, who: { device_id: string; tenant_id: string }) => boolean | Promise<boolean>;

/** The hub's source of time. Tests inject a manual clock; the default is the real one. */
export interface HubClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Who may ask the token endpoint for a device token. */
export interface DeviceCredential {
  tenant_id: string;
  /** Without it the secret is an enrollment secret: good for any device of the tenant. */
  device_id?: string;
  /** Compared in constant time; never logged. */
  secret: string;
}

/** A role in an organization. */
export type OrganizationRole = 'owner' | 'admin' | 'member';

/** An organization a user belongs to. */
export interface UserOrganization {
  /** The organization id: a tenant id (the `tenant` claim of the user's tokens in it). */
  id: string;
  name: string;
  role: OrganizationRole;
}

/** A user who may log in on a device (the device authorization grant, RFC 8628). */
export interface HubUser {
  user_id: string;
  /** At least one; the first is where a login lands unless the approval names another. */
  organizations: UserOrganization[];
}

/** The `tokens` option of {@link HubOptions}: the hub issues and verifies device JWTs. */
export interface HubTokenOptions {
  /** `iss` of issued tokens, and the only one accepted. Default `cloudtether-hub`. */
  issuer?: string;
  /** `aud` of issued tokens, and the only one accepted. Default `cloudtether`. */
  audience?: string;
  /** Access token lifetime, 1 s to 24 h, rounded down to whole seconds. Default 900 000 (15 min). */
  lifetimeMs?: number;
  /**
   * Clock tolerance for `exp` and `nbf`, so a device whose clock is a little off is not
   * refused; a session also lives this long past its token's `exp`. Default 5 000.
   */
  leewayMs?: number;
  /** Who may get a device token from `POST /v1/device-token`. Default: nobody. */
  deviceCredentials?: DeviceCredential[];
  /**
   * Makes the ES256 signing key pairs: one at first use, one per `rotateKeys()`. Default: a
   * fresh pair in memory, so tokens do not survive the process. Tests pass their own to sign
   * tokens the hub must refuse (wrong audience, `nbf` ahead, …) with the hub's real key.
   */
  generateKeyPair?: () => Promise<SigningKeyPair>;
  /**
   * Users who may log in on a device through `POST /v1/oauth/device_authorization` (RFC 8628)
   * and get user access tokens and refresh tokens. Default: nobody.
   */
  users?: HubUser[];
  /** How long a refresh token is good for, renewed by each rotation. Default 30 days. */
  refreshTokenLifetimeMs?: number;
  /** How long a device code (and its user code) waits for approval. Default 600 000 (10 min). */
  deviceCodeLifetimeMs?: number;
  /** The least time, in whole seconds, between two polls of one device code. Default 5. */
  pollIntervalS?: number;
}

/** TLS termination of the hub's port (`HubOptions.tls`). */
export interface HubTlsOptions {
  cert: string;
  key: string;
  /** CA whose client certificates are required (mutual TLS); unset: no client certificate asked for. */
  clientCa?: string;
}

/**
 * Options of {@link createHub}. Pass at least one of `authenticate`, `staticToken` and
 * `tokens`; `authenticate` and `staticToken` exclude each other.
 */
export interface HubOptions {
  /** Checks a device's credential. Throwing refuses the device with `1013 try_again_later`. */
  authenticate?: Authenticate;
  /**
   * Terminates TLS: wss:// and https:// on the listening port, with this certificate and key
   * (PEM). `clientCa` (PEM) requires every client to present a certificate it signed (mutual TLS).
   */
  tls?: HubTlsOptions;
  /** Shorthand for an `authenticate` that accepts this one token (compared in constant time). */
  staticToken?: string;
  /**
   * Makes the hub a token issuer: `POST /v1/device-token`, `GET /.well-known/jwks.json`, and
   * hub-issued JWTs accepted on `connect` and `auth_refresh`. A `connect` token that is not
   * one of the hub's (not a JWT, a key the hub never had, an algorithm other than ES256) goes
   * on to `staticToken` or `authenticate` when one is set; a hub token that is refused (expired,
   * revoked, another device's, …) does not. A credential the fallback refuses as well is refused
   * with the token check's reason (`malformed`, `unknown_key`, `unsupported_alg`), as without one.
   */
  tokens?: HubTokenOptions;
  /** Announced in `connect_ack`: how often devices send `heartbeat`. Default 25 000. */
  heartbeatIntervalMs?: number;
  /**
   * Announced in `connect_ack`. The hub closes a session with `4006 heartbeat_timeout` after
   * `heartbeatIntervalMs + heartbeatTimeoutMs` without any frame. Default 10 000.
   */
  heartbeatTimeoutMs?: number;
  /** A socket without an accepted `connect` by then is closed with `4005`. Default 10 000. */
  handshakeTimeoutMs?: number;
  /**
   * An HTTP request (a WebSocket upgrade included) whose headers have not all arrived by then is
   * answered `408` and its connection closed, so a client trickling them cannot hold it. Default 10 000.
   */
  headersTimeoutMs?: number;
  /** The same for a whole request, its body included; at least `headersTimeoutMs`. Default 30 000. */
  requestTimeoutMs?: number;
  /** Largest inbound frame; larger ones close the socket with `1009`. Default 1 MiB. */
  maxFrameBytes?: number;
  /** Bad frames tolerated per session per minute; one more closes it with `1008`. Default 10. */
  maxBadFrames?: number;
  /**
   * When set, operator routes (every admin route but `/healthz`: devices, revoke, dispatch and
   * executions, operators' settings, `POST /v1/oauth/approve`, usage across tenants) need
   * `authorization: Bearer <adminToken>`. Unset, they answer loopback clients only (others get
   * 403 `operator_loopback_only`); behind a reverse proxy on the same machine every client is
   * loopback, so set one there (docs/operations.md, "Operator access").
   */
  adminToken?: string;
  /** pino logger; secrets are redacted by `createLogger`. Default: silent. */
  logger?: Logger;
  /** Default: `Date.now` and the global timers. */
  clock?: HubClock;
  /** Reliable delivery and executions; see {@link DeliveryOptions}. */
  delivery?: DeliveryOptions;
  /**
   * Where the usage ledger is kept (an fsync'd append-only file, read back on `listen()`).
   * Default: in memory, so a restarted process starts with an empty ledger.
   */
  usageLedgerPath?: string;
  /**
   * Where the settings documents are kept: one JSON file (`0600`, replaced atomically, in a
   * directory the hub keeps at `0700`) with the store's epoch and every document, written before
   * a change is visible and read back on `listen()`, so devices keep their versions across a
   * restart. Default: in memory, a fresh epoch per hub (devices then fetch everything anew).
   */
  settingsPath?: string;
  /**
   * Channels: the replay window rejoins recover from, the extension instance TTL, and the ids of
   * reliable channel messages kept per device to drop resends (default 1 000, for an hour).
   */
  channels?: { replayWindow?: number; replayMaxAgeMs?: number; instanceTtlMs?: number; dedupeWindow?: number; dedupeTtlMs?: number };
  /**
   * The REST API's limit per credential (docs/api.md), a token bucket: `burst` requests at once,
   * refilled at `per_second`; published at `GET /v1/limits`. Default `{ burst: 20, per_second: 10 }`.
   */
  apiRateLimit?: RateLimit;
  /** How failed credentials slow their sender down (docs/operations.md, "Throttling failed credentials"). */
  throttle?: HubThrottleOptions;
  /**
   * Where the hub keeps the state that can outlive its process (docs/scaling.md). `'memory'` (the
   * default): this process, as always (`usageLedgerPath` and `settingsPath` may put two stores in
   * files). `{ redis: 'redis://host:6379' }`: Redis (6.2 or newer), so a hub restarted on it resumes
   * its devices (`resume.status: resumed`), verifies the tokens it issued, and keeps its usage ledger,
   * settings documents, revocations and API keys; `keyPrefix` (default `cloudtether:`) lets several
   * hubs share one Redis. `listen()` connects, and fails with `engine_unavailable` when it cannot.
   */
  engine?: 'memory' | { redis: string; keyPrefix?: string };
  /**
   * This hub node's name among the nodes on one Redis (docs/scaling.md, "Several nodes"): in its
   * presence entries, its broker channel and its log lines. Default `node_<random>`, new per process.
   */
  nodeId?: string;
}

/**
 * The `throttle` option of {@link HubOptions}. Past its free failures, each failure locks an
 * address (per kind of credential) or a credential id for a window that doubles with each
 * further failure, from `baseLockoutMs` up to `maxLockoutMs`.
 */
export interface HubThrottleOptions {
  /** Failures from one address, per kind of credential, before the first lock-out. Default 10. */
  freeFailuresPerAddress?: number;
  /** Failures against one credential id (a device, an API key, a client id), from anywhere, before its first lock-out. Default 20. */
  freeFailuresPerCredential?: number;
  /** The first lock-out. Default 1 000. */
  baseLockoutMs?: number;
  /** The longest lock-out; a record is forgotten this long after its last lock-out ends. Default 900 000 (15 min). */
  maxLockoutMs?: number;
  /**
   * Failure records (addresses and credential ids) kept at most, and as many addresses credentials
   * succeeded from; past it the least recently written are forgotten. Default 50 000.
   */
  maxRecords?: number;
}

/** The `delivery` option of {@link HubOptions}. */
export interface DeliveryOptions {
  /** Requests that wait longer than this for a device are dropped (`undelivered`), and its next `connect_ack` says `expired`. Default 600 000 (10 min). */
  resumeWindowMs?: number;
  /** Messages waiting for one device at most; `execute` throws `queue_full` past it. Default 10 000. */
  maxQueuedPerDevice?: number;
  /** Requests in flight to a device before it has announced its capacity. Default 16. */
  defaultCredit?: number;
  /** Recent message ids remembered per device to drop resends. Default 50 000 (the device outbox holds 10 000 by default). */
  dedupeWindow?: number;
  /** Finished executions kept for `execution()` and `GET /v1/executions/{id}`. Default 10 000. */
  retainExecutions?: number;
}

export type ResolvedDeliveryOptions = Required<DeliveryOptions>;

/** {@link HubOptions} after validation, with every default filled in. */
export interface ResolvedHubOptions {
  /** `staticToken` or `authenticate`; undefined when only hub-issued tokens are accepted. */
  authenticate: Authenticate | undefined;
  tokens: ResolvedTokenOptions | undefined;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxFrameBytes: number;
  maxBadFrames: number;
  adminToken: string | undefined;
  logger: Logger;
  clock: HubClock;
  delivery: ResolvedDeliveryOptions;
  usageLedgerPath: string | undefined;
  settingsPath: string | undefined;
  channels: { replayWindow: number; replayMaxAgeMs: number; instanceTtlMs: number; dedupeWindow?: number; dedupeTtlMs?: number };
  apiRateLimit: RateLimit;
  throttle: Required<HubThrottleOptions>;
  engine: 'memory' | { redis: string; keyPrefix: string | undefined };
  nodeId: string;
}

/** {@link HubTokenOptions} with every default filled in. */
export interface ResolvedTokenOptions {
  issuer: string;
  audience: string;
  lifetimeMs: number;
  leewayMs: number;
  deviceCredentials: DeviceCredential[];
  generateKeyPair?: () => Promise<SigningKeyPair>;
  users: HubUser[];
  refreshTokenLifetimeMs: number;
  deviceCodeLifetimeMs: number;
  pollIntervalS: number;
}

const isFunction = (value: unknown): boolean => typeof value === 'function';
/** The settings file is written through the file storage, whose entries have plain names. */
const isStorableFile = (path: string): boolean => {
  if (/[\\/]$/.test(path)) return false;
  try {
    assertEntryName(basename(path));
    return true;
  } catch {
    return false;
  }
};
const hasMethods =
  (...names: string[]) =>
  (value: unknown): boolean =>
    typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

const HubOptionsSchema = z.object({
  authenticate: z.custom<Authenticate>(isFunction, 'authenticate must be a function').optional(),
  staticToken: z.string().min(1).optional(),
  tokens: z
    .object({
      issuer: z.string().min(1).default('cloudtether-hub'),
      audience: z.string().min(1).default('cloudtether'),
      // At most a day: a session's expiry timer must stay within what setTimeout can hold.
      lifetimeMs: z.number().int().min(1_000).max(86_400_000).default(900_000),
      leewayMs: z.number().int().nonnegative().max(300_000).default(5_000),
      deviceCredentials: z
        .array(z.object({ tenant_id: z.string().min(1), device_id: z.string().min(1).optional(), secret: z.string().min(1) }))
        .default([]),
      generateKeyPair: z.custom<() => Promise<SigningKeyPair>>(isFunction, 'generateKeyPair must be a function').optional(),
      users: z
        .array(
          z.object({
            user_id: z.string().min(1).max(256),
            organizations: z
              .array(z.object({ id: z.string().min(1).max(256), name: z.string().min(1), role: z.enum(['owner', 'admin', 'member']) }))
              .min(1)
              .refine((orgs) => new Set(orgs.map((org) => org.id)).size === orgs.length, 'organization ids must be unique per user'),
          }),
        )
        .refine((users) => new Set(users.map((user) => user.user_id)).size === users.length, 'user ids must be unique')
        .default([]),
      refreshTokenLifetimeMs: z
        .number()
        .int()
        .min(1_000)
        .max(366 * 86_400_000)
        .default(30 * 86_400_000),
      deviceCodeLifetimeMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
      pollIntervalS: z.number().int().min(1).max(300).default(5),
    })
    .optional(),
  // The announced values must pass the connect_ack schema, so reuse its bounds.
  heartbeatIntervalMs: ConnectAckMessage.shape.heartbeat_interval_ms.default(25_000),
  heartbeatTimeoutMs: ConnectAckMessage.shape.heartbeat_timeout_ms.default(10_000),
  handshakeTimeoutMs: z.number().int().positive().default(10_000),
  headersTimeoutMs: z.number().int().positive().default(10_000),
  requestTimeoutMs: z.number().int().positive().default(30_000),
  // Below ~1 KiB a connect frame with a real token would not fit.
  maxFrameBytes: z.number().int().min(1024).default(MAX_FRAME_BYTES),
  maxBadFrames: z.number().int().nonnegative().default(10),
  adminToken: z.string().min(1).optional(),
  logger: z.custom<Logger>(hasMethods('child', 'info'), 'logger must be a pino logger').optional(),
  clock: z.custom<HubClock>(hasMethods('now', 'setTimeout', 'clearTimeout'), 'clock must have now, setTimeout and clearTimeout').optional(),
  delivery: z
    .object({
      resumeWindowMs: z
        .number()
        .int()
        .positive()
        .max(7 * 86_400_000)
        .default(600_000),
      maxQueuedPerDevice: z.number().int().positive().default(10_000),
      defaultCredit: z.number().int().positive().default(16),
      dedupeWindow: z.number().int().positive().default(50_000),
      retainExecutions: z.number().int().positive().default(10_000),
    })
    .default({ resumeWindowMs: 600_000, maxQueuedPerDevice: 10_000, defaultCredit: 16, dedupeWindow: 50_000, retainExecutions: 10_000 }),
  usageLedgerPath: z.string().min(1).optional(),
  settingsPath: z
    .string()
    .min(1)
    .refine(isStorableFile, 'settingsPath must end in a file name of letters, digits, ".", "_" and "-"')
    .optional(),
  channels: z
    .object({
      replayWindow: z.number().int().nonnegative().max(1_000_000).default(1_000),
      replayMaxAgeMs: z.number().int().positive().default(600_000),
      // An extension bridge's usual timing: a 20 s heartbeat, instances kept 60 s.
      instanceTtlMs: z.number().int().positive().default(60_000),
      // Defaults in src/hub/channels/channels.ts.
      dedupeWindow: z.number().int().positive().max(1_000_000).optional(),
      dedupeTtlMs: z.number().int().positive().optional(),
    })
    .default({ replayWindow: 1_000, replayMaxAgeMs: 600_000, instanceTtlMs: 60_000 }),
  // The published contract's bounds, plus a ceiling no bucket needs beyond.
  throttle: z
    .object({
      freeFailuresPerAddress: z.number().int().nonnegative().max(1_000_000).default(10),
      freeFailuresPerCredential: z.number().int().nonnegative().max(1_000_000).default(20),
      baseLockoutMs: z.number().int().positive().max(86_400_000).default(1_000),
      maxLockoutMs: z
        .number()
        .int()
        .positive()
        .max(7 * 86_400_000)
        .default(900_000),
      maxRecords: z.number().int().positive().max(10_000_000).default(50_000),
    })
    .refine((throttle) => throttle.baseLockoutMs <= throttle.maxLockoutMs, 'throttle.baseLockoutMs must not exceed throttle.maxLockoutMs')
    .default({
      freeFailuresPerAddress: 10,
      freeFailuresPerCredential: 20,
      baseLockoutMs: 1_000,
      maxLockoutMs: 900_000,
      maxRecords: 50_000,
    }),
  apiRateLimit: RateLimit.extend({
    burst: RateLimit.shape.burst.max(1_000_000),
    per_second: RateLimit.shape.per_second.max(1_000_000),
  }).default(() => ({ ...DEFAULT_RATE_LIMIT })),
  engine: z
    .union([z.literal('memory'), z.strictObject({ redis: z.string().min(1), keyPrefix: z.string().min(1).max(128).optional() })])
    .default('memory'),
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - (1 to 64)')
    .optional(),
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
  const { authenticate, staticToken, tokens, adminToken, logger, clock, usageLedgerPath, settingsPath, engine, nodeId, ...limits } =
    parsed.data;
  if (engine !== 'memory' && (usageLedgerPath !== undefined || settingsPath !== undefined)) {
    throw new HubError(
      'invalid_options',
      'invalid hub options: usageLedgerPath and settingsPath are files of the memory engine; the redis engine keeps the ledger and the settings in Redis',
    );
  }
  if (authenticate && staticToken !== undefined) {
    throw new HubError('invalid_options', 'invalid hub options: pass authenticate or staticToken, not both');
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new HubError('invalid_options', 'invalid hub options: headersTimeoutMs must not exceed requestTimeoutMs');
  }
  if (!authenticate && staticToken === undefined && !tokens) {
    throw new HubError('invalid_options', 'invalid hub options: pass one of authenticate, staticToken and tokens');
  }
  return {
    ...limits,
    authenticate: staticToken !== undefined ? (token) => safeEqual(token, staticToken) : authenticate,
    tokens,
    adminToken,
    usageLedgerPath,
    settingsPath,
    engine: engine === 'memory' ? engine : { redis: engine.redis, keyPrefix: engine.keyPrefix },
    nodeId: nodeId ?? `node_${randomUUID().slice(0, 8)}`,
    logger: logger ?? silentLogger(),
    clock: clock ?? realClock,
  };
}
