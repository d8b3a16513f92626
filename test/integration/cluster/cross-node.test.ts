import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import type { Connector } from '../../../src/connector/connector.ts';
import { createHub } from '../../../src/hub/index.ts';
import { startClusterDevices } from '../../support/cluster-devices.ts';
import { CLUSTER_TENANT, CLUSTER_TOKEN, type HubCluster, openCluster } from '../../support/cluster.ts';
import { until } from '../../support/loopback.ts';
import { type ExecutionAnswer, operatorCall } from '../../support/operator-rest.ts';
import { onEvents, onValues, waitUntil } from '../../support/wait-until.ts';

/*
 * Three hub nodes (the CLI, separate processes) on one redis-server, each device connected to
 * one node by its URL, and an operator calling another node's REST routes: what one node is told
 * takes effect on the devices the others hold.
 */

const schema = z.object({ theme: z.enum(['light', 'dark']).default('light') });

describe('a hub cluster: work and changes cross nodes', () => {
  // One cluster for these tests (each has devices of its own): starting three nodes is most of a test's time.
  let cluster: HubCluster;
  beforeAll(async () => {
    cluster = await openCluster({ nodes: 3 });
  });
  afterAll(() => cluster.stop());

  it('runs work dispatched on one node on a device held by another; its status is the same from every node', async () => {
    const [n1, n2, n3] = cluster.nodes as [HubCluster['nodes'][0], HubCluster['nodes'][0], HubCluster['nodes'][0]];
    const [device] = await startClusterDevices(n1.url, 1, { prefix: 'x' });
    await waitUntil(() => n1.devices.has('x-1'), [onEvents(cluster.events, 'session')], { what: 'dev-1 on n1' });

    const dispatched = await operatorCall(n2.base, 'POST', `/v1/devices/x-1/executions?tenant_id=${CLUSTER_TENANT}`, {
      request_id: 'x-1',
      job_type: 'tool',
      tool_name: 'echo',
      inputs: { n: 7 },
    });
    expect(dispatched.status).toBe(202);
    const statuses = () => Promise.all([n1, n2, n3].map((n) => operatorCall<ExecutionAnswer>(n.base, 'GET', '/v1/executions/x-1')));
    // Each node's answer, read again after each turn of the event loop (the nodes are other processes).
    await until(async () => (await statuses()).every((answer) => answer.status === 200 && answer.body.status === 'completed'));
    for (const answer of await statuses()) {
      expect(answer.body.events.filter((e) => e.event_type === 'completed')).toHaveLength(1);
    }
    expect(device!.ran).toEqual(['x-1']);
    // Booked by the node holding the device (each node answers the ledger from its own copy).
    const usage = await operatorCall<{ reports: Array<{ request_id: string }> }>(n1.base, 'GET', `/v1/usage?tenant=${CLUSTER_TENANT}`);
    expect(usage.body.reports.filter((report) => report.request_id === 'x-1')).toHaveLength(1);
  });

  it('applies a settings patch made on one node to devices held by the others', async () => {
    const [n1, n2, n3] = cluster.nodes as [HubCluster['nodes'][0], HubCluster['nodes'][0], HubCluster['nodes'][0]];
    const [a] = await startClusterDevices(n1.url, 1, { prefix: 's1', options: { settings: { schema } } });
    const [b] = await startClusterDevices(n3.url, 1, { prefix: 's3', options: { settings: { schema } } });
    const settingsOf = (connector: Connector) => (connector as unknown as Connector<z.output<typeof schema>>).settings.value;
    const bothSynced = () => [a!, b!].every((d) => d.connector.status.settings.state === 'synced');
    await waitUntil(bothSynced, [onValues(a!.connector.state$), onValues(b!.connector.state$)], { what: 'settings synced' });
    expect([settingsOf(a!.connector).theme, settingsOf(b!.connector).theme]).toEqual(['light', 'light']);

    const patched = await operatorCall(n2.base, 'PATCH', `/v1/tenants/${CLUSTER_TENANT}/settings`, { patch: { theme: 'dark' } });
    expect(patched.status).toBe(200);
    await waitUntil(
      () => settingsOf(a!.connector).theme === 'dark' && settingsOf(b!.connector).theme === 'dark',
      [onValues(a!.connector.events$), onValues(b!.connector.events$)],
      {
        what: 'the patch on the devices of n1 and n3',
        timeoutMs: 60_000,
        describe: () => `a: ${settingsOf(a!.connector).theme}, b: ${settingsOf(b!.connector).theme}`,
      },
    );
  });

  it('cuts off a device revoked on one node while another holds it: its session closes with 4007', async () => {
    const [n1, n2, n3] = cluster.nodes as [HubCluster['nodes'][0], HubCluster['nodes'][0], HubCluster['nodes'][0]];
    const [a] = await startClusterDevices(n1.url, 1, { prefix: 'a' });
    const [b] = await startClusterDevices(n3.url, 1, { prefix: 'b' });
    await waitUntil(() => n3.devices.has('b-1'), [onEvents(cluster.events, 'session')], { what: 'b-1 on n3' });

    const revoked = await operatorCall(n2.base, 'POST', `/v1/devices/b-1/revoke?tenant_id=${CLUSTER_TENANT}`);
    expect(revoked.status).toBe(200);
    await waitUntil(() => b!.connector.status.connection.state === 'failed', [onValues(b!.connector.state$)], {
      what: 'b-1 cut off',
      timeoutMs: 60_000,
      describe: () => JSON.stringify(b!.connector.status.connection),
    });
    expect(b!.connector.status.connection).toMatchObject({ reason: 'revoked', lastClose: { code: 4007 } });
    // n3 logs the session's end (a line of its output, which may come after the device saw the close).
    await waitUntil(() => cluster.holders('b-1').length === 0, [onEvents(cluster.events, 'session')], { what: 'b-1 held by no node' });
    expect(a!.connector.status.connection.state).toBe('connected');
  });

  it('delivers a channel message published on one node to a device held by another', async () => {
    const [n1] = cluster.nodes as [HubCluster['nodes'][0]];
    // The hub publishes from code only (no REST route): the publishing node is one more node of the
    // cluster, in this process, on the same Redis.
    const publisher = createHub({ staticToken: CLUSTER_TOKEN, engine: { redis: cluster.redis.url }, nodeId: 'n0' });
    await publisher.listen({ port: 0, host: '127.0.0.1' });
    onTestFinished(() => publisher.close());
    const [device] = await startClusterDevices(n1.url, 1, { prefix: 'p' });
    const received: unknown[] = [];
    const channel = device!.connector.channel('extension');
    channel.on('note', z.object({ text: z.string() }), (payload) => received.push(payload));
    await waitUntil(() => channel.state === 'joined', [onValues(device!.connector.events$)], { what: 'the extension channel joined' });

    // Redis took the offset: the first message of the channel the device's join started there.
    expect(await publisher.publish(CLUSTER_TENANT, 'extension', 'note', { text: 'from n0' })).toBe(1);
    await waitUntil(() => received.length > 0, [onValues(device!.connector.events$)], {
      what: 'the message published on n0 at the device on n1',
      timeoutMs: 30_000,
    });
    expect(received).toEqual([{ text: 'from n0' }]);
  });
});
