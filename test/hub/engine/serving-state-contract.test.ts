import { describe, expect, it } from 'vitest';
import { MAX_SHARES_PER_TENANT } from '../../../src/hub/api/shares.ts';
import { RedisEngine } from '../../../src/hub/engine/redis/redis-engine.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { engineNodes } from '../../support/engine-nodes.ts';
import { startRedis } from '../../support/redis-server.ts';

/**
 * One contract, both engines, for the state a hub asks while it serves (the throttle, the REST
 * API's buckets, …). "Two nodes" are two hubs' engines: for the memory engine the same engine
 * (one process is all it shares), for the Redis engine two engines on one Redis, as two hub
 * processes would be. "Again" is a new engine after every node closed: the memory engine forgets
 * (its durability is the process's life), the Redis engine reads what Redis kept.
 */

const NOW = 1_767_225_600_000;

const setups = engineNodes;

/** 3 free failures, then 1 s doubling to 8 s at most; a record is forgotten 8 s after its lock-out ends. */
const next = (failures: number, now: number) => {
  const lockoutMs = failures <= 3 ? 0 : Math.min(8_000, 1_000 * 2 ** (failures - 4));
  return { lockedUntil: lockoutMs > 0 ? now + lockoutMs : 0, expiresAt: now + lockoutMs + 8_000 };
};

describe.each(Object.keys(setups))('the %s engine, as several nodes', (name) => {
  const setup = setups[name]!;

  it('throttle: failures counted on one node lock out on the other, growing as they go on', async () => {
    const nodes = await setup();
    const [storeA, storeB] = [nodes.a.attemptStore('failures', 100), nodes.b.attemptStore('failures', 100)];
    const key = 'addr\u0000api_key\u0000203.0.113.66';
    for (let i = 0; i < 3; i++) await storeA.fail(key, NOW, (failures) => next(failures, NOW));
    expect(await storeB.get(key, NOW)).toEqual({ failures: 3, lockedUntil: 0, expiresAt: NOW + 8_000 });
    const fourth = await storeB.fail(key, NOW, (failures) => next(failures, NOW));
    expect(fourth).toEqual({ failures: 4, lockedUntil: NOW + 1_000, expiresAt: NOW + 9_000 });
    expect(await storeA.get(key, NOW + 500)).toEqual(fourth);
    expect((await storeA.fail(key, NOW, (failures) => next(failures, NOW))).lockedUntil).toBe(NOW + 2_000);
    // Expired by the hub's clock: counted afresh.
    expect(await storeB.get(key, NOW + 10_000)).toBeUndefined();
    expect((await storeB.fail(key, NOW + 10_000, (failures) => next(failures, NOW + 10_000))).failures).toBe(1);
    if (name === 'redis') await Promise.all([nodes.a.close(), nodes.b.close()]);
  });

  it('throttle: failures counted on both nodes at once are all counted, and the longest lock-out stays', async () => {
    const nodes = await setup();
    const [storeA, storeB] = [nodes.a.attemptStore('failures', 100), nodes.b.attemptStore('failures', 100)];
    const key = 'cred\u0000device_secret\u0000tenant-1/device-1';
    const counted = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? storeA : storeB).fail(key, NOW, (failures) => next(failures, NOW))),
    );
    expect(counted.map((record) => record.failures).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await storeA.get(key, NOW)).toEqual({ failures: 20, lockedUntil: NOW + 8_000, expiresAt: NOW + 16_000 });
    if (name === 'redis') await Promise.all([nodes.a.close(), nodes.b.close()]);
  });

  it('throttle: an address a credential succeeded from stays known on every node, and after a restart of all', async () => {
    const nodes = await setup();
    const key = 'seen\u0000api_key\u0000k1\u0000198.51.100.7';
    await nodes.a.attemptStore('familiar', 100).mark(key, NOW + 7 * 86_400_000, NOW);
    expect(await nodes.b.attemptStore('familiar', 100).get(key, NOW + 1_000)).toEqual({
      failures: 0,
      lockedUntil: 0,
      expiresAt: NOW + 7 * 86_400_000,
    });
    await nodes.a.attemptStore('failures', 100).fail('k', NOW, (failures) => next(failures, NOW));
    const again = await nodes.again();
    expect(await again.attemptStore('familiar', 100).get(key, NOW + 1_000)).toEqual(
      nodes.durable ? { failures: 0, lockedUntil: 0, expiresAt: NOW + 7 * 86_400_000 } : undefined,
    );
    expect((await again.attemptStore('failures', 100).get('k', NOW))?.failures).toBe(nodes.durable ? 1 : undefined);
    await again.close();
  });
});

describe.each(Object.keys(setups))('the %s engine, as several nodes: the REST API budget', (name) => {
  const setup = setups[name]!;

  it('is one budget per key across nodes: burst requests in all, then refused, refilled by the clock', async () => {
    const nodes = await setup();
    const clock = { now: NOW };
    const limit = { burst: 5, per_second: 2 };
    const [a, b] = [nodes.a.rateBuckets(limit, () => clock.now), nodes.b.rateBuckets(limit, () => clock.now)];
    const verdicts = [];
    for (let i = 0; i < 7; i++) verdicts.push(await (i % 2 ? a : b).take('key:k1'));
    expect(verdicts.map((verdict) => [verdict.ok, verdict.remaining])).toEqual([
      [true, 4],
      [true, 3],
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
      [false, 0],
    ]);
    expect(verdicts[5]).toEqual({ ok: false, limit: 5, remaining: 0, resetS: 3, retryAfterS: 1 });
    // Another key has its own bucket.
    expect((await a.take('key:k2')).remaining).toBe(4);
    clock.now += 1_000; // two requests' worth
    const after = await Promise.all([a.take('key:k1'), b.take('key:k1'), a.take('key:k1')]);
    expect(after.filter((verdict) => verdict.ok)).toHaveLength(2);
    if (name === 'redis') await Promise.all([nodes.a.close(), nodes.b.close()]);
  });

  it('takes exactly burst requests when nodes ask at once', async () => {
    const nodes = await setup();
    const limit = { burst: 10, per_second: 1 };
    const [a, b] = [nodes.a.rateBuckets(limit, () => NOW), nodes.b.rateBuckets(limit, () => NOW)];
    const verdicts = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).take('addr:192.0.2.1')));
    expect(verdicts.filter((verdict) => verdict.ok)).toHaveLength(10);
    if (name === 'redis') await Promise.all([nodes.a.close(), nodes.b.close()]);
  });
});

describe.each(Object.keys(setups))('the %s engine, as several nodes: share links', (name) => {
  const setup = setups[name]!;
  const share = (expiresInMs: number) => ({
    tenant_id: 'acme',
    resource: { type: 'execution' as const, id: 'req_1' },
    visibility: 'public' as const,
    expires_at: NOW + expiresInMs,
  });

  it('a link made through one node opens through the other until it expires, and after a restart of all', async () => {
    const nodes = await setup();
    const made = await nodes.a.shares.create(share(60_000), NOW, (id) => `https://hub.example/v1/shares/${id}`);
    expect(made).toMatchObject({ tenant_id: 'acme', created_at: NOW, expires_at: NOW + 60_000, visibility: 'public' });
    expect(made?.id).toMatch(/^shr_[\w-]{22}$/);
    expect(made?.url).toBe(`https://hub.example/v1/shares/${made?.id}`);
    expect(await nodes.b.shares.get(made!.id, NOW + 59_999)).toEqual(made);
    expect(await nodes.b.shares.get(made!.id, NOW + 60_000)).toBeUndefined();
    expect(await nodes.a.shares.get('shr_unknown', NOW)).toBeUndefined();
    const again = await nodes.again();
    expect(await again.shares.get(made!.id, NOW + 1_000)).toEqual(nodes.durable ? made : undefined);
    await again.close();
  });

  it('holds a tenant to its live shares across nodes; expired ones make room', async () => {
    const nodes = await setup();
    const url = (id: string) => `/v1/shares/${id}`;
    for (let i = 0; i < MAX_SHARES_PER_TENANT; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => (j % 2 ? nodes.a : nodes.b).shares.create(share(i === 0 ? 1_000 : 60_000), NOW, url)),
      );
    }
    expect(await nodes.a.shares.create(share(60_000), NOW, url)).toBeUndefined();
    expect(await nodes.b.shares.create({ ...share(60_000), tenant_id: 'other' }, NOW, url)).toBeDefined();
    // The first 100 expired at NOW + 1 s: room for 100 more.
    const later = await Promise.all(Array.from({ length: 101 }, () => nodes.b.shares.create(share(60_000), NOW + 1_000, url)));
    expect(later.filter(Boolean)).toHaveLength(100);
    if (name === 'redis') await Promise.all([nodes.a.close(), nodes.b.close()]);
  });
});

describe('the Redis engine: the throttle is bounded', () => {
  it('keeps each record only until it expires: Redis drops it itself (a TTL on every key)', async () => {
    const redis = await startRedis();
    const engine = new RedisEngine({ url: redis.url, keyPrefix: 'hub:', defaultCredit: 16, logger: silentLogger() });
    await engine.open();
    const store = engine.attemptStore('failures', 100);
    for (let i = 0; i < 1_000; i++) await store.fail(`addr\u0000connect\u000010.0.${i >> 8}.${i & 255}`, NOW, () => next(1, NOW));
    await engine.attemptStore('familiar', 100).mark('seen', NOW + 60_000, NOW);
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    const keys = await client.keys('hub:throttle:*');
    expect(keys).toHaveLength(1_001);
    const ttls = await Promise.all(keys.map((key) => client.pttl(key)));
    // Every key expires, no later than its record: 8 s for the failures, 60 s for the mark.
    expect(ttls.every((ttl) => ttl > 0 && ttl <= 60_000)).toBe(true);
    expect(ttls.filter((ttl) => ttl <= 8_000)).toHaveLength(1_000);
    client.disconnect();
    await engine.close();
  });
});
