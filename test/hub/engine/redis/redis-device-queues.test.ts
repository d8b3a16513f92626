import { describe, expect, it } from 'vitest';
import type { ReliableDeviceMessage } from '../../../../src/hub/delivery/device-queue.ts';
import { RedisEngine } from '../../../../src/hub/engine/redis/redis-engine.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { startRedis } from '../../../support/redis-server.ts';

const who = { tenant_id: 'acme', device_id: 'laptop-1' };
const TTL = 15_000;
const request = (id: string) =>
  ({ type: 'execution_request', request_id: id, job_type: 'tool', tool_name: 'echo' }) as ReliableDeviceMessage;
const cancel = (id: string) => ({ type: 'execution_cancel', request_id: id, reason: 'stop' }) as ReliableDeviceMessage;
const ids = (entries: readonly { message: ReliableDeviceMessage }[]) =>
  entries.map(({ message }) => `${message.type === 'execution_cancel' ? 'cancel:' : ''}${message.request_id}`);

/** Two hub nodes' engines on one Redis, each told of the devices it lost. */
async function twoNodes() {
  const redis = await startRedis();
  const make = (nodeId: string) => new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger(), nodeId });
  const [a, b] = [make('node-a'), make('node-b')];
  await Promise.all([a.open(), b.open()]);
  const lost = { a: [] as string[], b: [] as string[] };
  a.cluster.listen({ note: () => {}, lost: (w) => lost.a.push(w.device_id) });
  b.cluster.listen({ note: () => {}, lost: (w) => lost.b.push(w.device_id) });
  return { a, b, lost, close: () => Promise.all([a.close(), b.close()]) };
}

describe('device queues held by one of several nodes', () => {
  it('a claim moves the fence: the node that lost the device cannot write its queue, and what it queued is not lost', async () => {
    const { a, b, lost, close } = await twoNodes();
    expect(await a.deviceQueues.claim(who, 's-a', TTL)).toEqual({ previous: '', cancels: [] });
    const queueA = a.deviceQueues.of(who);
    queueA.enqueue(request('r1'), 1);
    queueA.enqueue(request('r2'), 2);
    expect(queueA.next()?.seq).toBe(1);
    await queueA.settled();

    // B claims the device: it reads the queue as A stored it, and names A as the previous holder.
    const claimed = await b.deviceQueues.claim(who, 's-b', TTL);
    expect(claimed.previous).toBe('node-a|s-a');
    const queueB = b.deviceQueues.of(who);
    expect(ids(queueB.entries().unacked)).toEqual(['r1']);
    expect(ids(queueB.entries().waiting)).toEqual(['r2']);

    // A still thinks it holds it: its next send is refused by the fence, and it learns it lost the device.
    expect(queueA.next()?.seq).toBe(2);
    await expect(queueA.settled()).rejects.toThrow(/^FENCED/);
    expect(lost.a).toEqual(['laptop-1']);
    expect(a.deviceQueues.holds(who)).toBe(false);
    // B numbers on from what is stored: seq 2 was never stored by A.
    expect(queueB.next()?.seq).toBe(2);
    await queueB.settled();

    // A node that does not hold the device queues in its inbox; the holder takes it, in order, cancels first.
    expect(await a.deviceQueues.append(who, request('r3'), 3, 100)).toMatchObject({ queued: true, holder: 'node-b|s-b' });
    expect(await a.deviceQueues.append(who, cancel('r1'), 4, 100)).toMatchObject({ queued: true });
    const pulled = await b.deviceQueues.pull(who);
    expect([ids(pulled.requests), ids(pulled.cancels)]).toEqual([['r3'], ['cancel:r1']]);
    expect(ids(queueB.entries().waiting)).toEqual(['cancel:r1', 'r3']);
    expect(ids((await b.deviceQueues.pull(who)).requests)).toEqual([]);
    await close();
  });

  it('work a stale holder queues (nothing sent) is stored for the holder: its write succeeds, it learns it lost the device, the holder pulls it', async () => {
    const { a, b, lost, close } = await twoNodes();
    await a.deviceQueues.claim(who, 's-a', TTL);
    const queueA = a.deviceQueues.of(who);
    await b.deviceQueues.claim(who, 's-b', TTL);
    queueA.enqueue(request('r9'), 1);
    queueA.enqueue(cancel('r8'), 2);
    await queueA.settled();
    expect(lost.a).toEqual(['laptop-1']);
    const pulled = await b.deviceQueues.pull(who);
    expect([ids(pulled.requests), ids(pulled.cancels)]).toEqual([['r9'], ['cancel:r8']]);
    expect(ids(b.deviceQueues.of(who).entries().waiting)).toEqual(['cancel:r8', 'r9']);
    await close();
  });

  it('refuses work past the limit across nodes, counting what waits, what is out and what the inbox holds; a renewal finds what waits', async () => {
    const { a, b, close } = await twoNodes();
    await b.deviceQueues.claim(who, 's-b', TTL);
    const queueB = b.deviceQueues.of(who);
    queueB.enqueue(request('r1'), 1);
    queueB.next();
    queueB.enqueue(request('r2'), 2);
    await queueB.settled();
    expect((await a.deviceQueues.append(who, request('r3'), 3, 3)).queued).toBe(true);
    expect((await a.deviceQueues.append(who, request('r4'), 4, 3)).queued).toBe(false);
    // Were the poke lost, the holder's next renewal finds the work waiting in the inbox.
    expect(await b.deviceQueues.renew(TTL)).toEqual({ lost: [], waiting: [who] });
    // A cancel is never refused: it concerns a request the device may have.
    expect((await a.deviceQueues.append(who, cancel('r1'), 5, 3)).queued).toBe(true);
    await close();
  });

  it('a poke carrying the work is taken without reading the inbox; the inbox read later skips it, and a poke late after the read is skipped', async () => {
    const { a, b, close } = await twoNodes();
    await b.deviceQueues.claim(who, 's-b', TTL);
    const queueB = b.deviceQueues.of(who);
    const first = await a.deviceQueues.append(who, request('r1'), 1, 100);
    const second = await a.deviceQueues.append(who, request('r2'), 2, 100);

    // The poke of r1 arrives: it is taken from the poke; the inbox still names r1 and r2 (nothing read).
    b.deviceQueues.poked(who, [first.entry]);
    expect(ids((await b.deviceQueues.pull(who)).requests)).toEqual(['r1']);
    expect(ids(queueB.entries().waiting)).toEqual(['r1']);
    // r1 goes out (the device has not acknowledged it yet).
    expect(queueB.next()?.seq).toBe(1);
    await queueB.settled();

    // The poke of r2 was lost: the renewal finds the inbox not empty and the pull reads it, taking r2 and not r1 again.
    expect(await b.deviceQueues.renew(TTL)).toEqual({ lost: [], waiting: [who] });
    expect(ids((await b.deviceQueues.pull(who)).requests)).toEqual(['r2']);
    expect([ids(queueB.entries().unacked), ids(queueB.entries().waiting)]).toEqual([['r1'], ['r2']]);
    queueB.ack(1);
    // Its poke comes late after all: skipped, r2 waits once.
    b.deviceQueues.poked(who, [second.entry]);
    expect(ids((await b.deviceQueues.pull(who)).requests)).toEqual([]);
    expect(ids(queueB.entries().waiting)).toEqual(['r2']);
    expect(await b.deviceQueues.renew(TTL)).toEqual({ lost: [], waiting: [] });

    // A poke for a device this node does not hold is ignored: its holder reads the work.
    a.deviceQueues.poked(who, [second.entry]);
    expect(await a.deviceQueues.pull(who)).toEqual({ requests: [], cancels: [] });
    await close();
  });

  it('a poke for work a claim read already is skipped: the claim read the inbox', async () => {
    const { a, b, close } = await twoNodes();
    const appended = await a.deviceQueues.append(who, request('r1'), 1, 100);
    await b.deviceQueues.claim(who, 's-b', TTL);
    const queueB = b.deviceQueues.of(who);
    expect(ids(queueB.entries().waiting)).toEqual(['r1']);
    expect(queueB.next()?.seq).toBe(1);
    await queueB.settled();
    queueB.ack(1);
    await queueB.settled();
    b.deviceQueues.poked(who, [appended.entry]);
    await b.deviceQueues.pull(who);
    expect(queueB.entries()).toEqual({ waiting: [], unacked: [] });
    await close();
  });

  it('a release lets the device go only while it is still this session’s, the next claim reads what waits, and a renewal finds a takeover', async () => {
    const { a, b, close } = await twoNodes();
    await a.deviceQueues.claim(who, 's-a', TTL);
    a.deviceQueues.of(who).enqueue(request('r1'), 1);
    await a.deviceQueues.release(who, 's-a');
    expect(a.deviceQueues.holds(who)).toBe(false);
    // Nobody holds it: work queued meanwhile waits in the inbox, and no holder is named.
    expect(await b.deviceQueues.append(who, request('r2'), 2, 100)).toMatchObject({ queued: true, holder: '' });
    const claimed = await b.deviceQueues.claim(who, 's-b', TTL);
    expect(claimed.previous).toBe('');
    expect(ids(b.deviceQueues.of(who).entries().waiting)).toEqual(['r1', 'r2']);
    // A late release of A's old session changes nothing for B.
    await a.deviceQueues.release(who, 's-a');
    expect((await b.deviceQueues.renew(TTL)).lost).toEqual([]);
    // A node whose claim was taken over learns it on its next renewal.
    await a.deviceQueues.claim(who, 's-a2', TTL);
    expect(await b.deviceQueues.renew(TTL)).toEqual({ lost: [who], waiting: [] });
    await close();
  });
});
