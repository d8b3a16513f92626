import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { settle } from '../../support/execution-fixture.ts';
import { until } from '../../support/loopback.ts';
import { startRedis } from '../../support/redis-server.ts';
import { envelope, type Frame, startHub, TestClient, TOKEN } from '../helpers.ts';

const WHO = { device_id: 'device-1', tenant_id: 'tenant-1' };

/** A device that speaks the protocol by hand, on the hub node at `url`. */
async function device(url: string) {
  const client = await TestClient.open(url);
  client.send(
    envelope('connect', { ...WHO, token: TOKEN, capacity: { running: 0, queued: 0, max_concurrency: 2, max_queue: 2, saturated: false } }),
  );
  expect((await client.next()).type).toBe('connect_ack');
  return client;
}

/** The next frame of `type`, others skipped. */
async function next(client: TestClient, type: string): Promise<Frame> {
  for (;;) {
    const frame = await client.next();
    if (frame.type === type) return frame;
  }
}

it('a device message resent to another node (its acks lost with the first) reaches the hosts once: the event by its copy in Redis, the usage report by the ledger, a messaging reply by its id', async () => {
  const redis = await startRedis();
  const node = (nodeId: string) => startHub({ staticToken: TOKEN, engine: { redis: redis.url }, nodeId });
  const [a, b] = [await node('node-a'), await node('node-b')];
  const heard = { a: [] as string[], b: [] as string[] };
  a.hub.on('message', (_session, message) => heard.a.push(message.type));
  b.hub.on('message', (_session, message) => heard.b.push(message.type));

  const first = await device(a.url);
  const run = a.hub.execute('device-1', { request_id: 'r1', job_type: 'tool', tool_name: 'echo' }, { tenantId: 'tenant-1' });
  await run.stored;
  expect(await next(first, 'execution_request')).toMatchObject({ request_id: 'r1' });
  const accepted = envelope('execution_event', { seq: 1, event_id: 'r1:accepted', request_id: 'r1', event_type: 'accepted', data: {} });
  const usage = envelope('usage_report', {
    seq: 2,
    report_id: 'usage:r1',
    request_id: 'r1',
    executor_device_id: 'device-1',
    metrics: { duration_ms: 5 },
  });
  const reply = envelope('messaging_reply', { seq: 3, request_id: 'm1', channel: 'line', result: { status: 'completed', text: 'hi' } });
  first.send(accepted);
  first.send(usage);
  first.send(reply);
  await until(() => heard.a.length === 3);
  // Node a's record of the event is in Redis before the device goes on to node b.
  const reader = new Redis(redis.url);
  for (;;) {
    if (await reader.hexists('cloudtether:exec:r1', 'ev:r1:accepted')) break;
    await settle();
  }
  reader.disconnect();

  // The device moves to node b and resends both, as it does when node a died before acknowledging them.
  const second = await device(b.url);
  second.send(accepted);
  second.send(usage);
  second.send(reply);
  // Acknowledged (so the device stops resending), up to the reply.
  while (((await next(second, 'ack')).seq as number) < 3);
  await settle();
  expect(heard).toEqual({ a: ['execution_event', 'usage_report', 'messaging_reply'], b: [] });
  // A new event of the same execution is news to node b's host.
  second.send(envelope('execution_event', { seq: 4, event_id: 'r1:completed', request_id: 'r1', event_type: 'completed', data: {} }));
  await until(() => heard.b.length === 1);
  expect(heard.b).toEqual(['execution_event']);
  await first.close();
  await second.close();
});

it('a request dispatched on a node that does not hold the device reaches it as validated: unknown keys dropped, defaults in', async () => {
  const redis = await startRedis();
  const node = (nodeId: string) => startHub({ staticToken: TOKEN, engine: { redis: redis.url }, nodeId });
  const [a, b] = [await node('node-a'), await node('node-b')];
  const held = await device(b.url);
  const input = { request_id: 'r2', job_type: 'tool', tool_name: 'echo', surplus: 'not in the protocol' };
  const run = a.hub.execute('device-1', input as never, { tenantId: 'tenant-1' });
  await run.stored;
  const request = await next(held, 'execution_request');
  expect(request).toMatchObject({ request_id: 'r2', tool_name: 'echo', inputs: {} });
  expect(request).not.toHaveProperty('surplus');
});
