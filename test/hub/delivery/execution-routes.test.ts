import { Redis } from 'ioredis';
import { expect, it, onTestFinished } from 'vitest';
import { settle } from '../../support/execution-fixture.ts';
import { startHub, until } from '../../support/loopback.ts';
import { operatorCall } from '../../support/operator-rest.ts';
import { startRedis } from '../../support/redis-server.ts';

it('a REST dispatch on a hub on Redis is answered 202 only once Redis holds the request', async () => {
  const redis = await startRedis();
  const { hub, url } = await startHub({ engine: { redis: redis.url }, nodeId: 'node-a' });
  const base = url.replace(/^ws/, 'http').replace(/\/v1\/connect$/, '');
  const operator = new Redis(redis.url);
  onTestFinished(() => void operator.quit());

  // Redis takes no write until unpaused: the hub has the request, but must not answer yet.
  await operator.call('CLIENT', 'PAUSE', '60000', 'WRITE');
  let answered = false;
  const answer = operatorCall(base, 'POST', '/v1/devices/dev-1/executions?tenant_id=local', {
    request_id: 'r-stored',
    job_type: 'tool',
    tool_name: 'echo',
    inputs: {},
  }).finally(() => (answered = true));
  await until(() => hub.execution('r-stored') !== undefined);
  await settle(20);
  expect(answered).toBe(false);

  await operator.call('CLIENT', 'UNPAUSE');
  expect((await answer).status).toBe(202);
  const stored = await operator.keys('*r-stored*');
  const inQueues = await Promise.all(
    (await operator.keys('*')).map(async (key) => ((await operator.type(key)) === 'hash' ? Object.keys(await operator.hgetall(key)) : [])),
  );
  expect(stored.length + inQueues.flat().filter((field) => field.includes('r-stored')).length).toBeGreaterThan(0);
});
