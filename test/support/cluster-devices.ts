import { onTestFinished } from 'vitest';
import { z } from 'zod';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { type Connector, type ConnectorOptions, createConnector } from '../../src/connector/connector.ts';
import { CLUSTER_TENANT, CLUSTER_TOKEN, startCluster } from './cluster.ts';
import { startTcpBalancer } from './tcp-balancer.ts';
import { onEvents, onValues, waitUntil } from './wait-until.ts';

/** Reconnect at once after a drop or a node's restart (tests wait on the reconnect, not on the jitter). */
export const FAST_BACKOFF = { baseMs: 20, capMs: 250, restartSpreadMs: 0, dropSpreadMs: 0 } as const;

/** A real connector (ws adapter, real timers) of a cluster's fleet, and the tools it has run. */
export interface ClusterDevice {
  readonly id: string;
  readonly connector: Connector;
  /** Request ids the `echo` tool ran, in order (twice if run twice). */
  readonly ran: string[];
}

/**
 * Starts `count` devices (`dev-1`, `dev-2`, …) against `url` (a node or a balancer), each with a
 * memory store and an `echo` tool that reports one token of usage; stopped when the test ends.
 * Resolves once every one is connected.
 *
 * @example
 * const devices = await startClusterDevices(balancer.url('/v1/connect'), 6);
 */
export async function startClusterDevices(
  url: string,
  count: number,
  {
    config = {},
    options = {},
    prefix = 'dev',
  }: { config?: Partial<ConnectorConfigInput>; options?: ConnectorOptions; prefix?: string } = {},
): Promise<ClusterDevice[]> {
  const devices: ClusterDevice[] = [];
  for (let i = 1; i <= count; i++) {
    const id = `${prefix}-${i}`;
    const connector = createConnector(
      {
        url,
        token: CLUSTER_TOKEN,
        deviceId: id,
        tenantId: CLUSTER_TENANT,
        seed: i,
        backoff: FAST_BACKOFF,
        executions: { maxConcurrency: 16, maxQueue: 256 },
        ...config,
      },
      options,
    );
    const ran: string[] = [];
    connector.handle('tool', 'echo', {
      input: z.object({ n: z.number() }),
      run({ n }, ctx) {
        ran.push(ctx.requestId);
        ctx.reportUsage({ inputTokens: 1 });
        return { n };
      },
    });
    connector.start();
    onTestFinished(() => connector.stop());
    devices.push({ id, connector, ran });
  }
  await Promise.all(devices.map(({ connector }) => whenConnected(connector)));
  return devices;
}

/** Resolves once the connector is connected (real time; 60 s hang guard). */
export function whenConnected(connector: Connector): Promise<void> {
  return waitUntil(() => connector.status.connection.state === 'connected', [onValues(connector.state$)], {
    what: 'the device to connect',
    timeoutMs: 60_000,
    describe: () => JSON.stringify(connector.status.connection),
  });
}

/**
 * The cluster tests' start: `nodes` hub nodes (CLI processes) on one redis-server, behind a TCP
 * balancer, with `perNode` devices connected to each of them through it.
 */
export async function startBalancedCluster(nodes = 3, perNode = 2) {
  const cluster = await startCluster({ nodes });
  const balancer = await startTcpBalancer(cluster.nodes.map((node) => ({ port: node.port })));
  const devices = await startClusterDevices(balancer.url('/v1/connect'), nodes * perNode);
  const spread = () => cluster.nodes.map((node) => node.devices.size);
  await waitUntil(() => spread().every((held) => held === perNode), [onEvents(cluster.events, 'session')], {
    what: `${perNode} devices on each node`,
    describe: () => spread().join(),
  });
  return { cluster, balancer, devices };
}
