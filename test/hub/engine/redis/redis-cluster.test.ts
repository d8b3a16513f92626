import { Redis } from 'ioredis';
import { expect, it, vi } from 'vitest';
import { commandDeltas } from '../../../../bench/cluster/redis-stats.ts';
import type { ExecutionEventRecord, ExecutionSnapshot } from '../../../../src/hub/delivery/executions.ts';
import type { ClusterNote } from '../../../../src/hub/engine/cluster.ts';
import { RedisEngine } from '../../../../src/hub/engine/redis/redis-engine.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { startRedis } from '../../../support/redis-server.ts';

const snapshot = (status: ExecutionSnapshot['status']): ExecutionSnapshot => ({
  request_id: 'r-1',
  device_id: 'laptop-1',
  tenant_id: 'acme',
  job_type: 'tool',
  status,
  created_at: 1,
  updated_at: 2,
  events: [],
});
const event = (event_type: string, seq: number) =>
  ({ event_id: `r-1:${seq}`, event_type, seq, data: {} }) as unknown as ExecutionEventRecord;

/** Two nodes' engines on one real Redis, open; `make` names a third (a reader) on it. */
async function twoNodes() {
  const redis = await startRedis();
  const make = (nodeId: string) => new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger(), nodeId });
  const [a, b] = [make('node-a'), make('node-b')];
  await Promise.all([a.open(), b.open()]);
  return { a, b, make };
}

it("an execution's copy in Redis keeps each event once and one end: events and an end the device resends to a second node are not kept twice", async () => {
  const { a, b, make } = await twoNodes();
  try {
    a.cluster.dispatched('r-1', { tenant_id: 'acme', device_id: 'laptop-1' }, 'tool', 1);
    // Node a records the run to its end, then dies before the device hears the ack.
    a.cluster.recorded(snapshot('running'), event('started', 1));
    a.cluster.recorded(snapshot('completed'), event('completed', 2));
    await a.close();
    // The device resends the events to node b, which records them again; a second end (another id) is not an end.
    b.cluster.recorded(snapshot('running'), event('started', 1));
    b.cluster.recorded(snapshot('completed'), event('completed', 2));
    b.cluster.recorded(snapshot('failed'), event('failed', 3));
    await b.close();

    const reader = make('node-c');
    await reader.open();
    const copy = await reader.cluster.snapshotOf('r-1');
    await reader.close();
    expect(copy?.status).toBe('completed');
    expect(copy?.events.map((e) => e.event_id)).toEqual(['r-1:1', 'r-1:2']);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

it('the same request id dispatched again on another node keeps the copy it has: its status and its events', async () => {
  const { a, b, make } = await twoNodes();
  try {
    a.cluster.dispatched('r-1', { tenant_id: 'acme', device_id: 'laptop-1' }, 'tool', 1);
    a.cluster.recorded(snapshot('completed'), event('completed', 1));
    // Its 202 was lost: the client sends it again, to node b.
    b.cluster.dispatched('r-1', { tenant_id: 'acme', device_id: 'laptop-1' }, 'tool', 5);
    await Promise.all([a.close(), b.close()]);

    const reader = make('node-c');
    await reader.open();
    const copy = await reader.cluster.snapshotOf('r-1');
    const origin = await reader.cluster.originOf('r-1');
    await reader.close();
    expect(copy).toMatchObject({ status: 'completed', created_at: 1 });
    expect(copy?.events.map((e) => e.event_type)).toEqual(['completed']);
    expect(origin?.node).toBe('node-a');
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

it("an execution's copy keeps its first 200 events and its end: a long run's progress does not grow it without bound", async () => {
  const { a, make } = await twoNodes();
  try {
    a.cluster.dispatched('r-1', { tenant_id: 'acme', device_id: 'laptop-1' }, 'tool', 1);
    const recorded: ExecutionEventRecord[] = [];
    for (let seq = 1; seq <= 205; seq++) {
      recorded.push(event('progress', seq));
      a.cluster.recorded({ ...snapshot('running'), events: recorded }, event('progress', seq));
    }
    a.cluster.recorded({ ...snapshot('completed'), events: [...recorded, event('completed', 206)] }, event('completed', 206));
    await a.close();

    const reader = make('node-c');
    await reader.open();
    const copy = await reader.cluster.snapshotOf('r-1');
    await reader.close();
    expect(copy?.status).toBe('completed');
    expect(copy?.events).toHaveLength(201);
    expect(copy?.events.at(-1)?.event_id).toBe('r-1:206');
  } finally {
    await a.close();
  }
});

it("a turn's notes to single nodes ride with its notes to every node: one PUBLISH, each node applies what is its own", async () => {
  const redis = await startRedis();
  const make = (nodeId: string) => new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger(), nodeId });
  const nodes = [make('node-a'), make('node-b'), make('node-c')];
  await Promise.all(nodes.map((node) => node.open()));
  const heard = nodes.map(() => [] as ClusterNote[]);
  nodes.forEach((node, index) => node.cluster.listen({ note: (note) => heard[index]!.push(note), lost: () => {} }));
  const reader = new Redis(redis.url);
  try {
    const who = { tenant_id: 'acme', device_id: 'laptop-1' };
    const usage = { t: 'usage', entry: { id: 'u-1' } } as unknown as ClusterNote;
    const toB: ClusterNote = { t: 'ended', who, request_id: 'r-b', status: 'cancelled', data: {} };
    const toC: ClusterNote = { t: 'ended', who, request_id: 'r-c', status: 'cancelled', data: {} };
    const before = await reader.info('commandstats');
    const [a] = nodes;
    a!.cluster.broadcast(usage);
    a!.cluster.send('node-b', toB);
    a!.cluster.send('node-c', toC);
    await vi.waitFor(() => expect(heard[1]!.length + heard[2]!.length).toBe(4));
    expect(heard[1]).toEqual([usage, toB]);
    expect(heard[2]).toEqual([usage, toC]);
    expect(heard[0]).toEqual([]);
    expect(commandDeltas(before, await reader.info('commandstats')).get('publish')).toBe(1);
    // A turn without notes to every node: one PUBLISH per node, as before.
    a!.cluster.send('node-b', toB);
    a!.cluster.send('node-c', toC);
    await vi.waitFor(() => expect(heard[1]!.length + heard[2]!.length).toBe(6));
    expect(heard[1]!.at(-1)).toEqual(toB);
    expect(heard[2]!.at(-1)).toEqual(toC);
  } finally {
    reader.disconnect();
    await Promise.all(nodes.map((node) => node.close()));
  }
});
