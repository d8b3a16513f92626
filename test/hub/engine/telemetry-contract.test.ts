import { describe, expect, it } from 'vitest';
import { DEFAULT_TELEMETRY_BOUNDS } from '../../../src/hub/api/telemetry-store.ts';
import { RedisConnection } from '../../../src/hub/engine/redis/redis-connection.ts';
import { RedisKeys } from '../../../src/hub/engine/redis/redis-keys.ts';
import { RedisTelemetry, TELEMETRY_TTL_MS } from '../../../src/hub/engine/redis/redis-telemetry.ts';
import { engineNodes } from '../../support/engine-nodes.ts';
import { startRedis } from '../../support/redis-server.ts';

/**
 * One contract, both engines, for telemetry as hub nodes share it: events reported through one
 * node are read through the other, in the order stored; a batch retried through the other node
 * is counted as copies; batches through both at once are all kept; the bounds hold across nodes.
 */

const NOW = 1_767_225_600_000;
const event = (id: string, properties: Record<string, string | number | boolean | null> = { to: 'connected' }) => ({
  id,
  event: 'connection.state_changed',
  timestamp: NOW,
  properties,
});
const batchOf = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => event(`${prefix}-${i}`));

describe.each(Object.keys(engineNodes))('the %s engine, as several nodes: telemetry', (name) => {
  const setup = engineNodes[name]!;

  it('what is reported through one node is read through the other; a retry through the other is copies', async () => {
    const nodes = await setup();
    const batch = [event('e1'), event('e2', { duration_ms: 12, ok: true, error: null })];
    expect(await nodes.a.telemetry.ingest('acme', batch, { received_at: NOW, device_id: 'laptop-1' })).toEqual({
      accepted: 2,
      duplicates: 0,
    });
    expect(await nodes.b.telemetry.ingest('acme', [...batch, event('e3')], { received_at: NOW + 1, api_key_id: 'k1' })).toEqual({
      accepted: 1,
      duplicates: 2,
    });
    expect(await nodes.b.telemetry.of('acme')).toEqual({
      events: [
        { ...batch[0], received_at: NOW, device_id: 'laptop-1' },
        { ...batch[1], received_at: NOW, device_id: 'laptop-1' },
        { ...event('e3'), received_at: NOW + 1, api_key_id: 'k1' },
      ],
      dropped: 0,
    });
    expect(await nodes.a.telemetry.of('globex')).toEqual({ events: [], dropped: 0 });
    const again = await nodes.again();
    expect((await again.telemetry.of('acme')).events.map((stored) => stored.id)).toEqual(nodes.durable ? ['e1', 'e2', 'e3'] : []);
    await again.close();
  });

  it('keeps every batch reported through both nodes at once, then the newest within the bounds', async () => {
    const nodes = await setup();
    const { maxEvents } = DEFAULT_TELEMETRY_BOUNDS;
    const batches = Array.from({ length: 21 }, (_, i) => batchOf(`b${i}`, 500));
    const answers = await Promise.all(
      batches.map((batch, i) => (i % 2 ? nodes.a : nodes.b).telemetry.ingest('acme', batch, { received_at: NOW })),
    );
    expect(answers.every((answer) => answer.accepted === 500)).toBe(true);
    const kept = await nodes.a.telemetry.of('acme');
    expect(kept.events).toHaveLength(maxEvents);
    expect(kept.dropped).toBe(21 * 500 - maxEvents);
    // Each batch's events stay together, in order, whichever node stored it.
    const ids = kept.events.map((stored) => stored.id);
    expect(new Set(ids).size).toBe(maxEvents);
    expect(ids.at(-1)).toMatch(/-499$/);
    await nodes.close();
  });
});

describe('Redis telemetry: bounded', () => {
  it('holds a tenant to its bytes and its dedupe window, and every key expires after the last event', async () => {
    const redis = await startRedis();
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    const connection = new RedisConnection();
    connection.connected(client);
    const keys = new RedisKeys('hub:');
    const telemetry = new RedisTelemetry(connection, (tenantId) => keys.telemetry(tenantId), {
      maxEvents: 100,
      maxBytes: 2_500,
      dedupeWindow: 2,
    });
    const big = (id: string) => event(id, { blob: 'x'.repeat(1000) });
    await telemetry.ingest('acme', [big('a'), big('b'), big('c')], { received_at: 1 });
    expect(await telemetry.of('acme')).toMatchObject({ events: [{ id: 'b' }, { id: 'c' }], dropped: 1 });
    expect(await telemetry.ingest('acme', [event('d'), event('d')], { received_at: 2 })).toEqual({ accepted: 1, duplicates: 1 });
    // 'b' left the window of 2 ids ('c', 'd'): taken again.
    expect(await telemetry.ingest('acme', [event('b')], { received_at: 3 })).toEqual({ accepted: 1, duplicates: 0 });
    const stored = await client.keys('hub:api:telemetry:*');
    expect(stored.sort()).toEqual(['hub:api:telemetry:acme:events', 'hub:api:telemetry:acme:ids', 'hub:api:telemetry:acme:meta']);
    const ttls = await Promise.all(stored.map((key) => client.pttl(key)));
    expect(ttls.every((ttl) => ttl > TELEMETRY_TTL_MS - 60_000 && ttl <= TELEMETRY_TTL_MS)).toBe(true);
    client.disconnect();
  });
});
