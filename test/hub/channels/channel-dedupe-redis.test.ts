import { describe, expect, it } from 'vitest';
import { createHub } from '../../../src/hub/index.ts';
import { startRedis } from '../../support/redis-server.ts';
import { connectFrame, envelope, startHub, TestClient, TOKEN } from '../helpers.ts';

const join = (channel: string) => envelope('channel_join', { channel });

/** A device that speaks channel_ack, joined to `task:t1`. */
async function joined(url: string): Promise<TestClient> {
  const client = await TestClient.open(url);
  client.send({ ...connectFrame(), capabilities: ['channel_ack'] });
  expect(await client.next()).toMatchObject({ type: 'connect_ack' });
  client.send(join('task:t1'));
  expect(await client.next()).toMatchObject({ type: 'channel_joined', channel: 'task:t1' });
  return client;
}

/** The device's messages, each with its own id, as its outbox keeps them across sessions. */
const sent = [1, 2].map((n) => envelope('channel_message', { channel: 'task:t1', event: 'approved', payload: { n }, seq: n }));
const message = (n: number) => sent[n - 1]!;

describe('reliable channel messages on the Redis engine: the dedupe window outlives the hub', () => {
  it('drops a message delivered just before a restart of the hub and of Redis, resent after it', async () => {
    const redis = await startRedis({ persistent: true });
    const delivered: unknown[] = [];
    const first = createHub({ staticToken: TOKEN, engine: { redis: redis.url } });
    first.on('channel_message', (_info, sent) => delivered.push(sent.payload));
    first.openTask('tenant-1', 't1');
    const { url } = await first.listen({ port: 0 });
    const before = await joined(url);
    before.send(message(1));
    expect(await before.next()).toMatchObject({ type: 'channel_ack', seq: 1 });
    await first.close();
    await redis.restart();

    const { hub: second, url: secondUrl } = await startHub({ staticToken: TOKEN, engine: { redis: redis.url } });
    second.on('channel_message', (_info, sent) => delivered.push(sent.payload));
    second.openTask('tenant-1', 't1');
    const after = await joined(secondUrl);
    after.send(message(1));
    after.send(message(2));
    expect(await after.next()).toMatchObject({ type: 'channel_ack', seq: 1 });
    expect(await after.next()).toMatchObject({ type: 'channel_ack', seq: 2 });
    expect(delivered).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('drops a resend to another hub node of what one node delivered', async () => {
    const redis = await startRedis();
    const [a, b] = [
      await startHub({ staticToken: TOKEN, engine: { redis: redis.url } }),
      await startHub({ staticToken: TOKEN, engine: { redis: redis.url } }),
    ];
    const delivered: string[] = [];
    for (const [name, { hub }] of [
      ['a', a],
      ['b', b],
    ] as const) {
      hub.openTask('tenant-1', 't1');
      hub.on('channel_message', (_info, sent) => delivered.push(`${name}:${(sent.payload as { n: number }).n}`));
    }
    const onA = await joined(a.url);
    onA.send(message(1));
    expect(await onA.next()).toMatchObject({ type: 'channel_ack', seq: 1 });
    // The same device, its socket to A lost before it saw more, now on B.
    const onB = await joined(b.url);
    onB.send(message(1));
    onB.send(message(2));
    expect(await onB.next()).toMatchObject({ type: 'channel_ack', seq: 1 });
    expect(await onB.next()).toMatchObject({ type: 'channel_ack', seq: 2 });
    expect(delivered).toEqual(['a:1', 'b:2']);
  });
});
