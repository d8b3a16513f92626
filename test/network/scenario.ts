import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import type { Connector, ConnectorOptions } from '../../src/connector/connector.ts';
import type { Hub } from '../../src/hub/index.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';
import type { TestPki } from '../support/test-pki.ts';

/*
 * What the network tests run through a proxy: a TLS hub that issues device tokens, a PostHog
 * stand-in on plain HTTP, and a connector that uses every outbound path the connector has.
 */

export const DEVICE_SECRET = 'enrol-secret-for-network-tests';

/** A TLS hub with the test CA's certificate that issues device tokens to holders of {@link DEVICE_SECRET}. */
export async function startTlsHub(pki: TestPki, port = 0): Promise<{ hub: Hub; url: string; port: number }> {
  return startHub(
    {
      staticToken: undefined,
      tls: { cert: pki.server.cert, key: pki.server.key },
      tokens: { deviceCredentials: [{ tenant_id: 'local', secret: DEVICE_SECRET }] },
    },
    port,
  );
}

/** A PostHog stand-in on plain HTTP: records each request's method and path. */
export async function startPostHog(): Promise<{ url: string; port: number; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":1}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, requests };
}

/** A device-mode connector with telemetry mirrored to `posthogUrl` and an `echo` tool; not started. */
export function deviceConnector(
  url: string,
  network: ConnectorConfigInput['network'],
  posthogUrl: string,
  options: Omit<ConnectorOptions, 'clock'> = {},
) {
  const started = startConnector(
    url,
    {
      token: undefined,
      credential: DEVICE_SECRET,
      network,
      telemetry: { enabled: true, posthog: { url: posthogUrl, apiKey: 'phc_network_test' } },
    },
    new SimulatedClock(),
    options,
  );
  started.connector.handle('tool', 'echo', { input: z.object({ text: z.string() }), run: ({ text }) => ({ text }) });
  return started;
}

/**
 * Uses every outbound path: the device token (HTTP), the socket, settings (HTTP), an execution
 * (socket), the REST API, telemetry to the hub and its PostHog mirror. Resolves when all worked.
 */
export async function useEveryPath(connector: Connector, hub: Hub, posthog: { requests: string[] }, request = 'r-1'): Promise<void> {
  await connected(connector);
  await until(() => connector.status.settings.state === 'synced');
  const run = await hub.execute('dev-1', { request_id: request, job_type: 'tool', tool_name: 'echo', inputs: { text: request } }).result;
  if (run.status !== 'completed') throw new Error(`the execution ended ${run.status}`);
  const me = await connector.api.whoami();
  if (!me) throw new Error('whoami answered nothing');
  connector.telemetry.track('network.test', { request });
  await connector.telemetry.flush();
  await until(async () =>
    (await hub.api.telemetry('local')).events.some((e) => e.event === 'network.test' && e.properties.request === request),
  );
  await until(() => posthog.requests.some((r) => r === 'POST /batch/'));
}
