import { randomBytes } from 'node:crypto';
import { createConnector, type Connector } from '../connector/connector.ts';
import type { ConnectorStatus } from '../connector/status.ts';
import { createHub, type Hub } from '../hub/index.ts';
import type { Logger } from '../log/logger.ts';
import { createNarrator, createStatePrinter } from './output.ts';

export interface DemoOptions {
  json: boolean;
  out: NodeJS.WritableStream;
  logger: Logger;
  /** Give up on a step after this long. Default 20 s. */
  stepTimeoutMs?: number;
}

export interface DemoRun {
  hub: Hub;
  connector: Connector;
  /** Admin URL of the hub, for a person to look at. */
  adminUrl: string;
  /** Resolves true when every step completed, false when one timed out. */
  scenario: Promise<boolean>;
  /** Stops the connector and the hub. */
  stop(): Promise<void>;
}

const DEVICE_ID = 'demo-device';

/**
 * The demo: a reference hub on a free loopback port, a connector against it, and a scenario a
 * person can follow: connect, heartbeats, the hub drops the socket, the connector reconnects,
 * the hub goes silent, the connector notices and reconnects.
 */
export async function startDemo(options: DemoOptions): Promise<DemoRun> {
  const { json, out, logger } = options;
  const stepTimeoutMs = options.stepTimeoutMs ?? 20_000;
  // The device's enrollment secret: the connector trades it for short-lived JWTs.
  const credential = randomBytes(18).toString('base64url');
  const narrate = createNarrator(json, out);
  const print = createStatePrinter(json, out);

  // Short heartbeats so the silent hub is found in seconds, not the production 35 s, and
  // 6-second tokens so a refresh on the open connection shows within the demo.
  const hub = createHub({
    heartbeatIntervalMs: 1_000,
    heartbeatTimeoutMs: 1_000,
    tokens: { lifetimeMs: 6_000, deviceCredentials: [{ tenant_id: 'local', device_id: DEVICE_ID, secret: credential }] },
    logger: logger.child({ component: 'hub' }),
  });
  const { url, port } = await hub.listen({ port: 0, host: '127.0.0.1' });
  const adminUrl = `http://127.0.0.1:${port}/v1/devices`;
  narrate('hub', `reference hub listening on ${url}`);

  const connector = createConnector(
    { url, credential, deviceId: DEVICE_ID, client: { name: 'cloudtether-demo', version: '0.1.0' } },
    { logger: logger.child({ component: 'connector' }) },
  );
  // Once the scenario is over, a heartbeat round each second would drown everything else.
  let quietHeartbeats = false;
  connector.on('state', ({ type: _type, ...change }) => {
    if (!(quietHeartbeats && !json && change.actor === 'heartbeat')) print(change);
  });

  const waitFor = (what: string, predicate: (s: ConnectorStatus) => boolean) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      connector.waitFor(predicate),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), stepTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const scenario = (async () => {
    try {
      narrate('connect', 'step 1: the connector gets a device token (JWT) and connects with it (connect -> connect_ack)');
      connector.start();
      await waitFor('connected', (s) => s.connection.state === 'connected');

      narrate('heartbeats', 'step 2: heartbeats every second, each acknowledged by the hub');
      await waitFor('a heartbeat ack', (s) => s.heartbeat.reason === 'acknowledged');
      await waitFor('the next heartbeat', (s) => s.heartbeat.state === 'awaiting');
      await waitFor('its ack', (s) => s.heartbeat.reason === 'acknowledged');

      narrate('refresh', 'step 3: before the 6-second token expires, a new one goes in-band (auth_refresh): same session, no reconnect');
      const session = connector.status.connection.sessionId;
      const expiresAt = connector.status.auth.expiresAt;
      await waitFor('a token refresh', (s) => s.auth.state === 'valid' && s.auth.expiresAt !== expiresAt);
      if (connector.status.connection.sessionId !== session) throw new Error('the refresh cost a reconnect');

      narrate('drop', 'step 4: the hub drops the socket without a close frame; the connector reconnects');
      const before = connector.status.connection.sessionId;
      hub.faults.dropDevice(DEVICE_ID);
      await waitFor('the drop to be seen', (s) => s.connection.state !== 'connected');
      await waitFor('reconnected', (s) => s.connection.state === 'connected' && s.connection.sessionId !== before);

      narrate('silence', 'step 5: the hub stops answering heartbeats; the connector notices and reconnects');
      hub.faults.silence(DEVICE_ID, true);
      await waitFor('heartbeat timeout', (s) => s.connection.reason === 'heartbeat_timeout');
      hub.faults.silence(DEVICE_ID, false);
      await waitFor('reconnected', (s) => s.connection.state === 'connected');

      narrate('done', `scenario complete; devices on the hub: ${JSON.stringify(hub.devices().map((d) => d.device_id))}`);
      quietHeartbeats = true;
      return true;
    } catch (error) {
      narrate('failed', `scenario failed: ${(error as Error).message}`);
      return false;
    }
  })();

  return {
    hub,
    connector,
    adminUrl,
    scenario,
    async stop() {
      await connector.stop();
      await hub.close();
    },
  };
}
