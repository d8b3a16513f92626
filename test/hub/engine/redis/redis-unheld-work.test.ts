import { describe, expect, it, onTestFinished } from 'vitest';
import { RedisEngine } from '../../../../src/hub/engine/redis/redis-engine.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { startRedis } from '../../../support/redis-server.ts';

const T0 = 1_700_000_000_000;
const parked = { tenant_id: 'acme', device_id: 'parked' };
const online = { tenant_id: 'acme', device_id: 'online' };
const request = (request_id: string) => ({ type: 'execution_request', request_id, job_type: 'tool', tool_name: 'echo' }) as const;

/** Two nodes' engines on one real Redis, open, closed when the test ends. */
async function twoNodes() {
  const redis = await startRedis();
  const make = (nodeId: string) => new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger(), nodeId });
  const [a, b] = [make('node-a'), make('node-b')];
  await Promise.all([a.open(), b.open()]);
  onTestFinished(() => Promise.all([a.close(), b.close()]).then(() => undefined));
  return { a, b, make };
}

describe('the waiting work of devices no node holds, in Redis', () => {
  it('one node at a time holds the lease, on the hub clock; it is taken when it ran out, and let go only by its holder', async () => {
    const { a, b } = await twoNodes();
    expect(await a.unheldWork.lease('node-a', T0, 15_000)).toBe(true);
    expect(await b.unheldWork.lease('node-b', T0 + 14_999, 15_000)).toBe(false);
    expect(await a.unheldWork.lease('node-a', T0 + 5_000, 15_000)).toBe(true); // renewed: runs to T0 + 20 000
    expect(await b.unheldWork.lease('node-b', T0 + 19_999, 15_000)).toBe(false);
    expect(await b.unheldWork.lease('node-b', T0 + 20_001, 15_000)).toBe(true);
    await a.unheldWork.release('node-a'); // not a's any more: stays b's
    expect(await a.unheldWork.lease('node-a', T0 + 20_002, 15_000)).toBe(false);
    await b.unheldWork.release('node-b');
    expect(await a.unheldWork.lease('node-a', T0 + 20_003, 15_000)).toBe(true);
  });

  it('takes out what waited past the cutoff of a device no node holds, counted missed for its next session; cancels stay, and a held device is left to its holder', async () => {
    const { a, b, make } = await twoNodes();
    a.cluster.listen({ note: () => {}, lost: () => {} });
    // Work queued for a device connected nowhere, from two nodes, at two times; and a cancel.
    expect(await a.cluster.append(parked, request('old'), T0, 100)).toBe(true);
    expect(await b.cluster.append(parked, { type: 'execution_cancel', request_id: 'elsewhere', reason: 'x' }, T0, 100)).toBe(true);
    expect(await b.cluster.append(parked, request('young'), T0 + 30_000, 100)).toBe(true);
    // A device node a holds: its holder expires its queue, not the sweep.
    await a.cluster.claim(online, 'session-1');
    expect(await b.cluster.append(online, request('held'), T0, 100)).toBe(true);

    const { expired, oldest } = await b.unheldWork.expire(T0 + 10_000);
    expect(expired.map(({ who, entry }) => [who.device_id, entry.message.request_id, entry.origin])).toEqual([['parked', 'old', 'node-a']]);
    expect(oldest).toBe(T0 + 30_000);
    expect((await b.unheldWork.expire(T0 + 10_000)).expired).toEqual([]);

    // The device connects at last (to a new node): the cancel and the young request wait, the old one is counted missed.
    const c = make('node-c');
    await c.open();
    onTestFinished(() => c.close());
    const { cancels } = await c.cluster.claim(parked, 'session-2');
    expect(cancels.map((entry) => entry.message.request_id)).toEqual(['elsewhere']);
    const { waiting } = c.deviceQueues.of(parked).entries();
    expect(waiting.map((entry) => entry.message.request_id)).toEqual(['elsewhere', 'young']);
    expect(c.deviceQueues.of(parked).expired).toBe(1);
    // Held now: nothing of it is swept any more.
    expect((await b.unheldWork.expire(T0 + 60_000)).expired).toEqual([]);
  });
});
