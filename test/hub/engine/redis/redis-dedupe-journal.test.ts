import { describe, expect, it } from 'vitest';
import { RedisEngine } from '../../../../src/hub/engine/redis/redis-engine.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { startRedis } from '../../../support/redis-server.ts';

const NOW = 1_767_225_600_000;

describe('RedisDedupeJournal', () => {
  it('keeps the last `limit` ids of a device, oldest first, apart from other devices, with a TTL that forgets a quiet device', async () => {
    const redis = await startRedis();
    const engine = new RedisEngine({ url: redis.url, keyPrefix: 'hub:', defaultCredit: 16, logger: silentLogger() });
    await engine.open();
    const journal = engine.channelDedupe;
    for (let i = 1; i <= 5; i++) await journal.taken('acme\u0000laptop-1', `m${i}`, NOW + i, 3, 60_000);
    await journal.taken('acme\u0000laptop-1', 'm4', NOW + 9, 3, 60_000); // taken again: no second entry
    await journal.taken('acme\u0000laptop-2', 'x1', NOW, 3, 50);
    expect(await journal.load('acme\u0000laptop-1')).toEqual(['m3', 'm4', 'm5']);
    expect(await journal.load('acme\u0000laptop-2')).toEqual(['x1']);
    // Redis forgets a quiet device's window itself: each key carries the window's TTL.
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    const ttl = async (device: string) => client.pttl(`hub:channels:dedupe:acme\u0000${device}`);
    expect(await ttl('laptop-1')).toBeGreaterThan(50);
    expect(await ttl('laptop-1')).toBeLessThanOrEqual(60_000);
    expect(await ttl('laptop-2')).toBeGreaterThan(0);
    expect(await ttl('laptop-2')).toBeLessThanOrEqual(50);
    client.disconnect();
    await engine.close();
  });
});
