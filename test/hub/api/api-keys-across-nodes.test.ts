import { describe, expect, it } from 'vitest';
import { startRedis } from '../../support/redis-server.ts';
import { until } from '../../support/loopback.ts';
import { api, keyOf, withKey } from '../api-helpers.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';

describe('REST API keys on hubs sharing one Redis', () => {
  it('a key made on node a works on node b at once, with no failed credential counted; revoked on a, b refuses it at once', async () => {
    const redis = await startRedis();
    const clock = new ManualClock();
    // Two free failures per address: new keys answered 401 as unknown would lock the address out (429) within the loop.
    const options = { staticToken: TOKEN, clock, engine: { redis: redis.url }, throttle: { freeFailuresPerAddress: 2 } };
    const [a, b] = [await startHub({ ...options, nodeId: 'node-a' }), await startHub({ ...options, nodeId: 'node-b' })];
    const manager = keyOf(a.hub, 'tenant-1');
    await a.hub.api.keys.settled();

    for (let i = 0; i < 5; i++) {
      const made = await api(a.port, 'POST', '/v1/api-keys', withKey(manager.secret), { name: `ci-${i}`, permissions: ['usage:read'] });
      expect(made.status).toBe(201);
      const secret = made.body?.secret as string;
      // Node b never heard of it: it reads it from Redis, at once.
      expect((await api(b.port, 'GET', '/v1/whoami', withKey(secret))).status).toBe(200);
      expect((await api(a.port, 'DELETE', `/v1/api-keys/${made.body?.id as string}`, withKey(manager.secret))).status).toBe(204);
      const revokedAt = Date.now();
      expect(await api(b.port, 'GET', '/v1/whoami', withKey(secret))).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
      expect(Date.now() - revokedAt).toBeLessThan(1_000);
    }
    // b's listing follows too, by the note a sent (and b, holding none of the keys made on a, lists them all).
    await until(async () => {
      const listed = await api(b.port, 'GET', '/v1/api-keys', withKey(manager.secret));
      const keys = (listed.body?.keys ?? []) as Array<{ name: string; revoked_at: number | null }>;
      return keys.filter((key) => key.name.startsWith('ci-') && key.revoked_at !== null).length === 5;
    });
    // A key made on b is managed on a at once: a rotation there refuses the old secret on b.
    const onB = await api(b.port, 'POST', '/v1/api-keys', withKey(manager.secret), { name: 'made-on-b', permissions: ['usage:read'] });
    const rotated = await api(a.port, 'POST', `/v1/api-keys/${onB.body?.id as string}/rotate`, withKey(manager.secret));
    expect(rotated.status).toBe(200);
    expect((await api(b.port, 'GET', '/v1/whoami', withKey(onB.body?.secret as string))).status).toBe(401);
    expect((await api(b.port, 'GET', '/v1/whoami', withKey(rotated.body?.secret as string))).status).toBe(200);
  });
});
