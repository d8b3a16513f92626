import type { HttpAdapter } from '../adapters/http.ts';
import { ApiClient } from '../api/client.ts';
import type { Logger } from '../log/logger.ts';
import { createMemoryRecordLog } from '../storage/record-log.ts';
import { sendToPostHog } from '../telemetry/posthog.ts';
import { Telemetry } from '../telemetry/telemetry.ts';
import type { RuntimeClock } from '../util/clock.ts';
import { type ConnectorConfig, hubOrigin, telemetryForcedOff } from './config.ts';
import type { ApiCredentials } from '../api/client.ts';
import type { ConnectorStore } from './remote-work.ts';
import { SEED_SALT } from './machine-input.ts';

/**
 * The connector's HTTP services: the REST API client and telemetry, which sends its batches
 * through that client (and mirrors them to PostHog when configured).
 */
export function createCloudServices(options: {
  cfg: ConnectorConfig;
  http: HttpAdapter;
  credentials: ApiCredentials;
  clock: RuntimeClock;
  logger: Logger;
  store: ConnectorStore;
  seed: number;
}) {
  const { cfg, http, credentials, clock, logger, store, seed } = options;
  const api = new ApiClient({
    http,
    origin: cfg.url === undefined ? undefined : hubOrigin(cfg.url),
    credentials,
    clock,
    ...(cfg.api.rateLimit && { rateLimit: cfg.api.rateLimit }),
    ...(cfg.api.retry && { retry: cfg.api.retry }),
    ...(cfg.api.timeoutMs !== undefined && { timeoutMs: cfg.api.timeoutMs }),
    seed: seed ^ SEED_SALT.api,
  });
  const { enabled, forceOff, posthog, metricsIntervalMs: _interval, ...telemetryPolicy } = cfg.telemetry;
  const log = logger.child({ actor: 'telemetry' });
  const telemetryLog = store.telemetry ?? createMemoryRecordLog({ now: () => clock.now() });
  const telemetry = new Telemetry({
    log: telemetryLog,
    send: async (batch) => {
      await api.sendTelemetry(batch);
      // A mirror, best effort: the hub's acceptance is what acknowledges the batch.
      if (posthog)
        void sendToPostHog(http, posthog, cfg.deviceId, batch).catch((error: unknown) =>
          log.warn({ err: error }, 'telemetry mirror to PostHog failed'),
        );
    },
    clock,
    logger: log,
    policy: telemetryPolicy,
    enabled,
    forcedOff: forceOff || telemetryForcedOff(),
    seed: seed ^ SEED_SALT.telemetry,
  });
  return { api, telemetry, telemetryLog };
}
