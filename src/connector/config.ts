import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { BackoffPolicy } from '../machines/backoff.ts';
import { RestartPolicy } from '../machines/supervisor.ts';
import { MAX_FRAME_BYTES } from '../protocol/envelope.ts';

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
    url.protocol !== 'ws:' && url.protocol !== 'wss:' ? 'must be a ws:// or wss:// URL'
    : url.hash !== '' ? 'must not have a #fragment (WebSocket URLs cannot)'
    // Credentials in a URL end up in logs and proxies: they belong in `token`.
    : url.username !== '' || url.password !== '' ? 'must not carry credentials; use token'
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
    /** Persistent device id. Default: a random id for this process (issue 3 persists it). */
    deviceId: Identifier.default(() => randomUUID()),
    tenantId: Identifier.default('local'),
    /** Static bearer token sent in `connect`. Required with `url`. */
    token: z.string().min(1).max(8192).optional(),
    /** Reported to the hub in `connect`. */
    client: z.object({ name: z.string().max(128), version: z.string().max(64) }).optional(),
    backoff: BackoffPolicy.default(BackoffPolicy.parse({})),
    restart: RestartPolicy.default(RestartPolicy.parse({})),
    /** Socket open plus handshake must finish within this. */
    connectTimeoutMs: z.number().int().positive().default(10_000),
    /** `stop()` waits this long for the closing handshake. */
    closeTimeoutMs: z.number().int().positive().default(2_000),
    maxFrameBytes: z.number().int().positive().max(16 * MAX_FRAME_BYTES).default(MAX_FRAME_BYTES),
    /** Seed for reconnect jitter; fixed in tests and recordings, random otherwise. */
    seed: z.number().int().optional(),
  })
  .refine((c) => c.url === undefined || c.token !== undefined, {
    message: 'a token is required when url is set (CLOUD_TOKEN)',
    path: ['token'],
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
 * Reads configuration from the environment, as the seed connector does:
 *
 * | variable | meaning |
 * |---|---|
 * | `CLOUD_WS_URL` | hub URL; unset means standalone mode |
 * | `CLOUD_TOKEN` | static bearer token |
 * | `DEVICE_ID` | device id |
 * | `TENANT_ID` | tenant, default `local` |
 * | `CLOUDTETHER_CONNECT_TIMEOUT_MS` | connect timeout |
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
    ...(read('DEVICE_ID') && { deviceId: read('DEVICE_ID') }),
    ...(read('TENANT_ID') && { tenantId: read('TENANT_ID') }),
    ...(timeout && { connectTimeoutMs: Number(timeout) }),
  };
  return { ...fromEnv, ...overrides };
}
