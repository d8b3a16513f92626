import { describe, expect, it, onTestFinished } from 'vitest';
import { until } from '../../support/loopback.ts';
import { createHub, type Hub } from '../../../src/hub/index.ts';
import { startRedis, type RedisServer } from '../../support/redis-server.ts';
import { envelope, startHub, TestClient, TOKEN, type Frame } from '../helpers.ts';

const join = (channel: string, recover?: { epoch: unknown; offset: number }) =>
  envelope('channel_join', { channel, ...(recover && { recover }) });

/** A hub on `redis` with task t1 open in tenant-1. */
async function hubOn(redis: RedisServer, channels: { replayWindow?: number } = {}): Promise<{ hub: Hub; url: string }> {
  const started = await startHub({
    staticToken: TOKEN,
    engine: { redis: redis.url },
    ...(channels.replayWindow !== undefined && { channels: { replayWindow: channels.replayWindow } }),
  });
  started.hub.openTask('tenant-1', 't1');
  return started;
}

/** A device joins task:t1 (recovering from `recover`), and reads the answer. */
async function joinTask(
  url: string,
  recover?: { epoch: unknown; offset: number },
  deviceId = 'device-1',
): Promise<{ client: TestClient; joined: Frame }> {
  const { client } = await TestClient.connect(url, { device_id: deviceId });
  client.send(join('task:t1', recover));
  const joined = await client.next();
  expect(joined).toMatchObject({ type: 'channel_joined', channel: 'task:t1' });
  return { client, joined };
}

/** A first session: joined, two messages seen, gone; a third published after. Returns where the device stopped. */
async function firstSession(hub: Hub, url: string): Promise<{ epoch: unknown; offset: number }> {
  const { client, joined } = await joinTask(url);
  for (const text of ['a', 'b']) await hub.publish('tenant-1', 'task:t1', 'message', { text });
  expect(await client.next()).toMatchObject({ type: 'channel_message', offset: 1 });
  expect(await client.next()).toMatchObject({ type: 'channel_message', offset: 2 });
  await client.close();
  await hub.publish('tenant-1', 'task:t1', 'message', { text: 'c' });
  return { epoch: joined.epoch, offset: 2 };
}

describe('channel offsets and history on the Redis engine', () => {
  it('a device rejoining after a restart of the hub and of Redis recovers what it missed, under the same epoch', async () => {
    const redis = await startRedis({ persistent: true });
    const first = createHub({ staticToken: TOKEN, engine: { redis: redis.url } });
    first.openTask('tenant-1', 't1');
    const { url } = await first.listen({ port: 0 });
    const stopped = await firstSession(first, url);
    await first.close();
    await redis.restart();

    const second = await hubOn(redis);
    const { client, joined } = await joinTask(second.url, stopped);
    expect(joined).toMatchObject({ recovery: 'recovered', epoch: stopped.epoch, offset: 3 });
    expect(await client.next()).toMatchObject({ type: 'channel_message', offset: 3, payload: { text: 'c' } });
    expect(await second.hub.publish('tenant-1', 'task:t1', 'message', { text: 'd' })).toBe(4);
    expect(await client.next()).toMatchObject({ type: 'channel_message', offset: 4, payload: { text: 'd' } });
  });

  it('a device is told `lost` when the stream was deleted between its sessions: a new epoch, offsets go on', async () => {
    const redis = await startRedis();
    const first = createHub({ staticToken: TOKEN, engine: { redis: redis.url } });
    first.openTask('tenant-1', 't1');
    const { url } = await first.listen({ port: 0 });
    const stopped = await firstSession(first, url);
    await first.close();
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    expect(await admin.del('cloudtether:channels:stream:tenant-1\u0000task:t1')).toBe(1);
    admin.disconnect();

    const second = await hubOn(redis);
    const { joined } = await joinTask(second.url, stopped);
    expect(joined).toMatchObject({ recovery: 'lost', offset: 3 });
    expect(joined.epoch).not.toBe(stopped.epoch);
    expect(await second.hub.publish('tenant-1', 'task:t1', 'message', { text: 'd' })).toBe(4);
  });

  it('a device is told `lost` after FLUSHALL between its sessions', async () => {
    const redis = await startRedis();
    const first = createHub({ staticToken: TOKEN, engine: { redis: redis.url } });
    first.openTask('tenant-1', 't1');
    const { url } = await first.listen({ port: 0 });
    const stopped = await firstSession(first, url);
    await first.close();
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();

    const second = await hubOn(redis);
    const { joined } = await joinTask(second.url, stopped);
    expect(joined.recovery).toBe('lost');
    expect(joined.epoch).not.toBe(stopped.epoch);
  });

  it('a device rejoining through another hub node, started before the first went down, recovers what the first published', async () => {
    const redis = await startRedis();
    const [a, b] = [await hubOn(redis), await hubOn(redis)];
    const stopped = await firstSession(a.hub, a.url);
    // A goes down; its writes were answered before its connection quit (Redis answers in order).
    await a.hub.close();
    const { client, joined } = await joinTask(b.url, stopped);
    expect(joined).toMatchObject({ recovery: 'recovered', epoch: stopped.epoch, offset: 3 });
    expect(await client.next()).toMatchObject({ type: 'channel_message', offset: 3, payload: { text: 'c' } });
  });

  it('two nodes publishing to one channel at once: each message takes one offset, members on both nodes get every one in the same order, the history keeps each once', async () => {
    const redis = await startRedis();
    const [a, b] = [await hubOn(redis), await hubOn(redis)];
    const onA = await joinTask(a.url);
    const onB = await joinTask(b.url, undefined, 'device-2');
    // The first join put the channel in Redis: both nodes give it the same epoch.
    expect(onB.joined.epoch).toBe(onA.joined.epoch);
    const count = 200;
    const offsets = await Promise.all(
      Array.from({ length: count }, (_, i) => (i % 2 === 0 ? a : b).hub.publish('tenant-1', 'task:t1', 'message', { i })),
    );
    const all = Array.from({ length: count }, (_, i) => i + 1);
    expect([...offsets].sort((x, y) => x - y)).toEqual(all);
    const seen = async (client: TestClient) => {
      const frames: Array<[number, number]> = [];
      for (let k = 0; k < count; k++) {
        const frame = await client.next();
        expect(frame).toMatchObject({ type: 'channel_message', channel: 'task:t1' });
        frames.push([frame.offset as number, (frame.payload as { i: number }).i]);
      }
      return frames;
    };
    const [seenA, seenB] = [await seen(onA.client), await seen(onB.client)];
    // Every message once, in offset order, under the offset its publish resolved with, alike on both nodes.
    expect(seenA.map(([offset]) => offset)).toEqual(all);
    expect(seenB).toEqual(seenA);
    for (const [offset, i] of seenA) expect(offsets[i]).toBe(offset);

    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    const stream = await admin.xrange('cloudtether:channels:stream:tenant-1\u0000task:t1', '-', '+');
    admin.disconnect();
    expect(stream.map(([id]) => Number.parseInt(id, 10))).toEqual(all);

    // A device that stopped half-way recovers the rest on the other node, under the same epoch.
    await onA.client.close();
    const again = await joinTask(b.url, { epoch: onA.joined.epoch, offset: count / 2 }, 'device-3');
    expect(again.joined).toMatchObject({ recovery: 'recovered', epoch: onA.joined.epoch, offset: count });
    for (let offset = count / 2 + 1; offset <= count; offset++) {
      expect(await again.client.next()).toMatchObject({ type: 'channel_message', offset, payload: { i: seenA[offset - 1]![1] } });
    }
  });

  it('members on every node get every message across a dropped broker connection: what a node did not hear is read from the history', async () => {
    const redis = await startRedis();
    const [a, b] = [await hubOn(redis), await hubOn(redis)];
    const onA = await joinTask(a.url);
    const onB = await joinTask(b.url, undefined, 'device-2');
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    onTestFinished(() => admin.disconnect());
    const offsetsOf = async (client: TestClient, count: number) => {
      const offsets: unknown[] = [];
      for (let k = 0; k < count; k++) offsets.push((await client.next()).offset);
      return offsets;
    };
    expect(await a.hub.publish('tenant-1', 'task:t1', 'message', { i: 1 })).toBe(1);
    expect([await offsetsOf(onA.client, 1), await offsetsOf(onB.client, 1)]).toEqual([[1], [1]]);

    // Both nodes' broker connections dropped: what is published before they are back reaches no node's notes.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    for (const i of [2, 3, 4]) await b.hub.publish('tenant-1', 'task:t1', 'message', { i });
    const listening = async () => ((await admin.pubsub('NUMSUB', 'cloudtether:broker:all')) as [string, number])[1] === 2;
    await until(listening);
    expect(await a.hub.publish('tenant-1', 'task:t1', 'message', { i: 5 })).toBe(5);
    expect([await offsetsOf(onA.client, 4), await offsetsOf(onB.client, 4)]).toEqual([
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ]);
  });

  it('keeps about the replay window in the stream (XADD MAXLEN ~)', async () => {
    const redis = await startRedis();
    const { hub } = await hubOn(redis, { replayWindow: 200 });
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => hub.publish('tenant-1', 'task:t1', 'message', { i })));
    await hub.close();
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url);
    const length = await admin.xlen('cloudtether:channels:stream:tenant-1\u0000task:t1');
    expect(await admin.hget('cloudtether:channels:meta:tenant-1\u0000task:t1', 'offset')).toBe('2000');
    admin.disconnect();
    expect(length).toBeGreaterThanOrEqual(200);
    expect(length).toBeLessThan(400);
  });
});
