import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AuthPolicy } from '../machines/auth-policy.ts';
import { BackoffPolicy } from '../machines/backoff.ts';
import { OutboxPolicy } from '../delivery/outbox.ts';
import { ChannelSendsPolicy } from '../delivery/channel-sends.ts';
import { ExecutorLimits } from '../execution/executor.ts';
import { ChannelPolicy } from '../machines/channel.ts';
import { SettingsPolicy } from '../machines/settings-sync.ts';
import { ApiRetryPolicy } from '../api/client.ts';
import { RateLimit } from '../api/contract.ts';
import { TelemetryPolicy } from '../telemetry/telemetry.ts';
import { RestartPolicy } from '../machines/supervisor.ts';
import { MAX_FRAME_BYTES } from '../protocol/envelope.ts';
import { NetworkPolicy } from '../network/network-policy.ts';

const Identifier = z.string().min(1).max(256);

/** A hub URL must be one `ws` can open and safe to log: ws(s), no fragment, no credentials. */
function checkHubUrl(value: string, ctx: z.RefinementCtx): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not a valid URL' });
    return;
  }
  const problem =
    url.protocol !== 'ws:' && url.protocol !== 'wss:'
      ? 'must be a ws:// or wss:// URL'
      : url.hash !== ''
        ? 'must not have a #fragment (WebSocket URLs cannot)'
        : // Credentials in a URL end up in logs and proxies: they belong in `token`.
          url.username !== '' || url.password !== ''
          ? 'must not carry credentials; use token'
          : undefined;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

/**
 * Connector configuration. Only `url` and `token` are needed to connect; without `url` the
 * connector runs in standalone mode and needs nothing else.
 */
export const ConnectorConfig = z
  .object({
    /** Hub WebSocket URL (`ws://` or `wss://`). Unset: standalone mode. */
    url: z.string().superRefine(checkHubUrl).optional(),
    /** Persistent device id. Default: a random id for this process; `resolveDeviceIdentity` (src/storage/device-identity.ts) keeps one across restarts, as the CLI does. */
    deviceId: Identifier.default(() => randomUUID()),
    tenantId: Identifier.default('local'),
    /**
     * Static mode: a bearer token sent as is in `connect`. Never refreshed; when it expires (its
     * JWT `exp`, or `tokenExpiresAt`) the connector stops with reason `static_token_expired`.
     */
    token: z.string().min(1).max(8192).optional(),
    /** Expiry of a static token that is not a JWT, epoch ms. */
    tokenExpiresAt: z.number().int().positive().optional(),
    /**
     * Device mode: the device credential (enrollment secret or API key) exchanged at the hub's
     * token endpoint for short-lived JWTs, refreshed on the open connection. Never logged.
     */
    credential: z.string().min(1).max(4096).optional(),
    /**
     * User mode: tokens for a logged-in user (OAuth device authorization grant, `login()`),
     * refreshed with a refresh token kept in the secret store; organizations are tenants.
     */
    userLogin: z.boolean().default(false),
    /** The token endpoint; default: the hub URL's origin (ws→http) + `/v1/device-token`. */
    tokenUrl: z.string().url().optional(),
    /** Token refresh and retry policy (src/machines/auth-policy.ts `AuthPolicy`). */
    authPolicy: AuthPolicy.prefault({}),
    /** Reported to the hub in `connect`. */
    client: z.object({ name: z.string().max(128), version: z.string().max(64) }).optional(),
    backoff: BackoffPolicy.default(BackoffPolicy.parse({})),
    restart: RestartPolicy.default(RestartPolicy.parse({})),
    /** Socket open plus handshake must finish within this. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /** `stop()` waits this long for the closing handshake. */
    closeTimeoutMs: z.number().int().positive().default(2_000),
    maxFrameBytes: z
      .number()
      .int()
      .positive()
      .max(16 * MAX_FRAME_BYTES)
      .default(MAX_FRAME_BYTES),
    /** Seed for reconnect jitter; fixed in tests and recordings, random otherwise. */
    seed: z.number().int().optional(),
    /** Execution limits (src/execution/executor.ts `ExecutorLimits`). */
    executions: ExecutorLimits.prefault({}),
    /** Channel policy (src/machines/channel.ts `ChannelPolicy`): join timeout, rejoin backoff, send buffer. */
    channels: ChannelPolicy.default(ChannelPolicy.parse({})),
    /** Settings sync timing (src/machines/settings-sync.ts `SettingsPolicy`). */
    settings: SettingsPolicy.default(SettingsPolicy.parse({})),
    /** Static settings: base64 JSON of the settings object, used as is and never synced. */
    staticSettings: z.string().min(1).max(1_000_000).optional(),
    /** Static settings from a JSON file, read once at start. */
    staticSettingsFile: z.string().min(1).optional(),
    /**
     * The API client (`connector.api`): its rate limit (default the reference hub's published
     * 20 at once, 10/s), retries of idempotent requests (3 attempts, 250 ms to 5 s) and
     * per-request timeout (10 s).
     */
    api: z
      .object({
        rateLimit: RateLimit.optional(),
        retry: ApiRetryPolicy.partial().optional(),
        timeoutMs: z.number().int().positive().optional(),
      })
      .default({}),
    /**
     * Telemetry (`connector.telemetry`): off unless `enabled` (the host's or user's consent);
     * `forceOff` (`CLOUDTETHER_TELEMETRY=off`, `DO_NOT_TRACK=1`) wins over consent. Batching,
     * queue bound and retry are `TelemetryPolicy`; `posthog` mirrors each batch to a PostHog
     * project; `metricsIntervalMs` is how often `runtime.metrics` is recorded.
     */
    telemetry: TelemetryPolicy.extend({
      enabled: z.boolean().default(false),
      forceOff: z.boolean().default(false),
      posthog: z.object({ url: z.string().url(), apiKey: z.string().min(1).max(256) }).optional(),
      metricsIntervalMs: z.number().int().positive().default(60_000),
    }).prefault({}),
    /** Outbox policy (src/delivery/outbox.ts `OutboxPolicy`). */
    outbox: OutboxPolicy.prefault({}),
    /**
     * Reliable channel messages (src/delivery/channel-sends.ts `ChannelSendsPolicy`): at most
     * `maxUnacked` (default 1 000) waiting for the hub's ack, each dropped `ttlMs` (default 1 h)
     * after it was sent if still unacknowledged.
     */
    reliableChannels: ChannelSendsPolicy.prefault({}),
    /**
     * The network policy of every outbound connection (src/network/network-policy.ts
     * `NetworkPolicy`): proxy (default the `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` environment),
     * extra CAs, a client certificate for mutual TLS, SPKI pins, the HTTP timeout.
     * docs/operations.md, "Networks".
     */
    network: NetworkPolicy.prefault({}),
  })
  .refine((c) => c.url === undefined || c.token !== undefined || c.credential !== undefined || c.userLogin, {
    message: 'a token (CLOUD_TOKEN), a device credential (CLOUD_DEVICE_CREDENTIAL) or userLogin is required when url is set',
    path: ['token'],
  })
  .refine((c) => [c.token !== undefined, c.credential !== undefined, c.userLogin].filter(Boolean).length <= 1, {
    message: 'give one of a static token, a device credential or userLogin',
    path: ['credential'],
  })
  .refine((c) => c.staticSettings === undefined || c.staticSettingsFile === undefined, {
    message: 'give static settings as a value or as a file, not both',
    path: ['staticSettingsFile'],
  })
  .refine((c) => c.tokenExpiresAt === undefined || c.token !== undefined, {
    message: 'tokenExpiresAt goes with a static token',
    path: ['tokenExpiresAt'],
  });
export type ConnectorConfig = z.output<typeof ConnectorConfig>;
export type ConnectorConfigInput = z.input<typeof ConnectorConfig>;

/** A configuration that failed validation. Lists each problem by path; never echoes values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: ReadonlyArray<{ path: string; message: string }>) {
    super(`invalid connector configuration: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

/**
 * Validates a configuration and fills in defaults.
 *
 * @throws {ConfigError} naming every invalid field.
 */
export function parseConnectorConfig(input: ConnectorConfigInput): ConnectorConfig {
  const parsed = ConnectorConfig.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
  }
  return parsed.data;
}

/**
 * Reads configuration from the environment:
 *
 * | variable | meaning |
 * |---|---|
 * | `CLOUD_WS_URL` | hub URL; unset means standalone mode |
 * | `CLOUD_TOKEN` | static bearer token |
 * | `CLOUD_DEVICE_CREDENTIAL` | device credential for short-lived tokens (device mode) |
 * | `CLOUD_TOKEN_URL` | token endpoint, when not at the hub URL's origin |
 * | `DEVICE_ID` | device id |
 * | `TENANT_ID` | tenant, default `local` |
 * | `CLOUDTETHER_CONNECT_TIMEOUT_MS` | connect timeout |
 * | `CLOUDTETHER_STATIC_SETTINGS` | static settings, base64 JSON (never synced) |
 * | `CLOUDTETHER_TELEMETRY` | `on` consents to telemetry; `off` forces it off |
 * | `DO_NOT_TRACK` | `1` forces telemetry off |
 * | `CLOUDTETHER_STATIC_SETTINGS_FILE` | static settings from a JSON file |
 * | `CLOUDTETHER_PROXY` | proxy URL for every connection, or `none`; overrides `HTTPS_PROXY` and the rest |
 * | `CLOUDTETHER_CA_FILE` | more trusted CAs, PEM |
 * | `CLOUDTETHER_CLIENT_CERT_FILE`, `CLOUDTETHER_CLIENT_KEY_FILE` | client certificate and key for mutual TLS, PEM |
 * | `CLOUDTETHER_PINS` | SPKI pins (base64 SHA-256), comma-separated |
 *
 * `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` (either case), `NODE_EXTRA_CA_CERTS` and
 * `SSL_CERT_FILE` are read when the connector starts, whatever the configuration came from.
 *
 * Empty variables count as unset. Pass `overrides` to layer CLI flags on top.
 *
 * @example
 * const connector = createConnector(connectorConfigFromEnv());
 */
export function connectorConfigFromEnv(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<ConnectorConfigInput> = {},
): ConnectorConfigInput {
  const read = (name: string) => (env[name] && env[name]!.trim() !== '' ? env[name]!.trim() : undefined);
  const timeout = read('CLOUDTETHER_CONNECT_TIMEOUT_MS');
  const fromEnv: ConnectorConfigInput = {
    ...(read('CLOUD_WS_URL') && { url: read('CLOUD_WS_URL') }),
    ...(read('CLOUD_TOKEN') && { token: read('CLOUD_TOKEN') }),
    ...(read('CLOUD_DEVICE_CREDENTIAL') && { credential: read('CLOUD_DEVICE_CREDENTIAL') }),
    ...(read('CLOUD_TOKEN_URL') && { tokenUrl: read('CLOUD_TOKEN_URL') }),
    ...(read('DEVICE_ID') && { deviceId: read('DEVICE_ID') }),
    ...(read('TENANT_ID') && { tenantId: read('TENANT_ID') }),
    ...(timeout && { connectTimeoutMs: Number(timeout) }),
    ...(read('CLOUDTETHER_STATIC_SETTINGS') && { staticSettings: read('CLOUDTETHER_STATIC_SETTINGS') }),
    ...(read('CLOUDTETHER_STATIC_SETTINGS_FILE') && { staticSettingsFile: read('CLOUDTETHER_STATIC_SETTINGS_FILE') }),
    ...((telemetryForcedOff(env) || /^(on|1|true)$/i.test(read('CLOUDTETHER_TELEMETRY') ?? '')) && {
      telemetry: telemetryForcedOff(env) ? { forceOff: true } : { enabled: true },
    }),
  };
  const network = networkFromEnv(read);
  return { ...fromEnv, ...(network && { network }), ...overrides };
}

function networkFromEnv(read: (name: string) => string | undefined): ConnectorConfigInput['network'] {
  const cert = read('CLOUDTETHER_CLIENT_CERT_FILE');
  const key = read('CLOUDTETHER_CLIENT_KEY_FILE');
  const pins = read('CLOUDTETHER_PINS');
  const network: NonNullable<ConnectorConfigInput['network']> = {
    ...(read('CLOUDTETHER_PROXY') && { proxy: read('CLOUDTETHER_PROXY') }),
    ...(read('CLOUDTETHER_CA_FILE') && { caFile: read('CLOUDTETHER_CA_FILE') }),
    ...((cert || key) && { clientCert: { ...(cert && { certFile: cert }), ...(key && { privateKeyFile: key }) } }),
    ...(pins && {
      pins: pins
        .split(',')
        .map((pin) => pin.trim())
        .filter((pin) => pin !== ''),
    }),
  };
  return Object.keys(network).length > 0 ? network : undefined;
}

/**
 * Whether the environment forces telemetry off: `CLOUDTETHER_TELEMETRY=off` (or `0`, `false`)
 * or `DO_NOT_TRACK=1` (the consoledonottrack.com convention). The connector checks it whatever
 * its configuration says.
 */
export function telemetryForcedOff(env: Record<string, string | undefined> = process.env): boolean {
  return /^(off|0|false)$/i.test(env.CLOUDTETHER_TELEMETRY?.trim() ?? '') || /^(1|true)$/i.test(env.DO_NOT_TRACK?.trim() ?? '');
}

/** The token endpoint for a hub URL: `ws://h:p/v1/connect` → `http://h:p/v1/device-token`. */
export function defaultTokenUrl(hubUrl: string): string {
  return `${hubOrigin(hubUrl)}/v1/device-token`;
}

/** The hub's HTTP origin for a hub URL: `wss://h/v1/connect` → `https://h`. */
export function hubOrigin(hubUrl: string): string {
  const url = new URL(hubUrl);
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
}
