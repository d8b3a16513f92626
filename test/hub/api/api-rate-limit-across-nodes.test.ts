import { describe, expect, it } from 'vitest';
import { startRedis } from '../../support/redis-server.ts';
import { api, withKey } from '../api-helpers.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';

describe('REST API rate limit on hubs sharing one Redis', () => {
  it('charges one budget per credential whichever hub answers, and refills it on the shared clock', async () => {
    const redis = await startRedis();
    const clock = new ManualClock();
    const options = { staticToken: TOKEN, clock, apiRateLimit: { burst: 4, per_second: 1 }, engine: { redis: redis.url } };
    const [a, b] = [await startHub(options), await startHub(options)];
    // A key made on A is in Redis; B reads it back when it starts after.
    const { secret } = a.hub.api.createApiKey('tenant-1', { name: 'ci', permissions: ['usage:read'] });
    const c = await startHub(options);
    const answers = [];
    for (const port of [a.port, c.port, a.port, c.port, a.port, c.port])
      answers.push(await api(port, 'GET', '/v1/whoami', withKey(secret)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 429, 429]);
    expect(answers.map((answer) => answer.headers.get('ratelimit-remaining'))).toEqual(['3', '2', '1', '0', '0', '0']);
    expect(answers[4]?.headers.get('retry-after')).toBe('1');
    // An anonymous caller's budget is its address's, shared too.
    const anonymous = [];
    for (const port of [a.port, b.port, a.port, b.port, a.port])
      anonymous.push((await api(port, 'GET', '/v1/whoami')).headers.get('ratelimit-remaining'));
    expect(anonymous).toEqual(['3', '2', '1', '0', '0']);
    clock.advance(1_000);
    expect((await api(c.port, 'GET', '/v1/whoami', withKey(secret))).status).toBe(200);
    expect((await api(a.port, 'GET', '/v1/whoami', withKey(secret))).status).toBe(429);
  });
});
