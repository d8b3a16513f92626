import { Redis } from 'ioredis';
import { expect, it, onTestFinished } from 'vitest';
import { settle } from '../../support/execution-fixture.ts';
import { startHub } from '../../support/loopback.ts';
import { operatorCall } from '../../support/operator-rest.ts';
import { startRedis } from '../../support/redis-server.ts';

it("a dispatch's `stored` settles (and REST answers 202) only once Redis holds the request", async () => {
  const redis = await startRedis();
  const { hub } = await startHub({ engine: { redis: redis.url }, nodeId: 'node-a' });
  const operator = new Redis(redis.url);
  onTestFinished(() => void operator.quit());

  // Redis takes no write until unpaused: the hub has the request, but it is not stored yet.
  await operator.call('CLIENT', 'PAUSE', '60000', 'WRITE');
  const run = hub.execute('dev-1', { request_id: 'r-stored', job_type: 'tool', tool_name: 'echo', inputs: {} }, { tenantId: 'local' });
  let stored = false;
  void run.stored.then(() => (stored = true));
  expect(hub.execution('r-stored')).toBeDefined();
  await settle(20);
  expect(stored).toBe(false);

  await operator.call('CLIENT', 'UNPAUSE');
  await run.stored;
  // The request itself is in a device queue's entries (a hash of message id to entry).
  const keys = await operator.keys('*');
  const values = await Promise.all(
    keys.map(async (key) => ((await operator.type(key)) === 'hash' ? Object.values(await operator.hgetall(key)) : [])),
  );
  expect(values.flat().some((value) => value.includes('"request_id":"r-stored"') && value.includes('execution_request'))).toBe(true);
});

it('a request id dispatched on one node is refused 409 on another; one refused as a bad request can be sent again corrected', async () => {
  const redis = await startRedis();
  const a = await startHub({ engine: { redis: redis.url }, nodeId: 'node-a' });
  const b = await startHub({ engine: { redis: redis.url }, nodeId: 'node-b' });
  const baseOf = (url: string) => url.replace(/^ws/, 'http').replace(/\/v1\/connect$/, '');
  const request = (id: string) => ({ request_id: id, job_type: 'tool', tool_name: 'echo', inputs: {} });

  expect((await operatorCall(baseOf(a.url), 'POST', '/v1/devices/dev-1/executions?tenant_id=local', request('r-dup'))).status).toBe(202);
  expect(await operatorCall(baseOf(b.url), 'POST', '/v1/devices/dev-1/executions?tenant_id=local', request('r-dup'))).toMatchObject({
    status: 409,
    body: { error: 'duplicate_request' },
  });
  expect(b.hub.execution('r-dup')).toBeUndefined();

  // Without a tenant the device (connected nowhere) cannot be named: refused, and the id is free again.
  expect((await operatorCall(baseOf(b.url), 'POST', '/v1/devices/dev-1/executions', request('r-fixed'))).status).toBe(400);
  expect((await operatorCall(baseOf(b.url), 'POST', '/v1/devices/dev-1/executions?tenant_id=local', request('r-fixed'))).status).toBe(202);
});
