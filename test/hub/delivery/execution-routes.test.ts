import { Redis } from 'ioredis';
import { expect, it, onTestFinished } from 'vitest';
import { settle } from '../../support/execution-fixture.ts';
import { startHub } from '../../support/loopback.ts';
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
