import { describe, expect, it } from 'vitest';
import { startRedis } from '../../support/redis-server.ts';
import { api, asDevice } from '../api-helpers.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';

describe('telemetry on hubs sharing one Redis', () => {
  it('what a device reports through node a is read on node b, and its retry through b is counted as copies', async () => {
    const redis = await startRedis();
    const clock = new ManualClock();
    const options = { staticToken: TOKEN, clock, engine: { redis: redis.url } };
    const [a, b] = [await startHub({ ...options, nodeId: 'node-a' }), await startHub({ ...options, nodeId: 'node-b' })];
    const batch = [1, 2, 3].map((i) => ({ id: `e${i}`, event: 'task.completed', timestamp: clock.now(), properties: { n: i } }));
    expect(await api(a.port, 'POST', '/v1/telemetry', asDevice(), { batch, sent_at: clock.now() })).toMatchObject({
      status: 202,
      body: { accepted: 3, duplicates: 0 },
    });
    // Answered 202 once stored: readable on b at once.
    expect(await b.hub.api.telemetry('tenant-1')).toEqual({
      events: batch.map((sent) => ({ ...sent, received_at: clock.now(), device_id: 'device-1' })),
      dropped: 0,
    });
    expect((await api(b.port, 'POST', '/v1/telemetry', asDevice(), { batch, sent_at: clock.now() })).body).toEqual({
      accepted: 0,
      duplicates: 3,
    });
    expect((await a.hub.api.telemetry('tenant-1')).events).toHaveLength(3);
  });
});
