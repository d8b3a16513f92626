import { describe, expect, it } from 'vitest';
import { until } from '../../support/loopback.ts';
import { startRedis } from '../../support/redis-server.ts';
import { envelope, startHub, TestClient, TOKEN } from '../helpers.ts';

const report = (seq: number, reportId: string, durationMs: number) =>
  envelope('usage_report', {
    seq,
    report_id: reportId,
    request_id: `req-${reportId}`,
    executor_device_id: 'device-1',
    metrics: { duration_ms: durationMs },
  });

describe('the usage summary on hubs sharing one Redis', () => {
  it('counts a report booked through node a on node b too, and a copy sent through b on neither twice', async () => {
    const redis = await startRedis();
    const [a, b] = [
      await startHub({ staticToken: TOKEN, engine: { redis: redis.url }, nodeId: 'node-a' }),
      await startHub({ staticToken: TOKEN, engine: { redis: redis.url }, nodeId: 'node-b' }),
    ];
    const onA = (await TestClient.connect(a.url)).client;
    onA.send(report(1, 'u1', 5));
    expect(await onA.next()).toMatchObject({ type: 'ack', seq: 1 });
    // Booked in Redis before the ack; b's copy takes it from a's note.
    expect(a.hub.usage('tenant-1').totals).toMatchObject({ reports: 1, duration_ms: 5 });
    await until(() => b.hub.usage('tenant-1').totals.reports === 1);
    expect(b.hub.usage('tenant-1').reports).toEqual(a.hub.usage('tenant-1').reports);

    // The device moves to b and resends the report with a new one: the copy is booked by neither.
    const onB = (await TestClient.connect(b.url)).client;
    onB.send(report(1, 'u1', 5));
    expect(await onB.next()).toMatchObject({ type: 'ack', seq: 1 });
    onB.send(report(2, 'u2', 7));
    expect(await onB.next()).toMatchObject({ type: 'ack', seq: 2 });
    expect(b.hub.usage('tenant-1').totals).toMatchObject({ reports: 2, duration_ms: 12 });
    await until(() => a.hub.usage('tenant-1').totals.reports === 2);
    expect(a.hub.usage('tenant-1').totals).toMatchObject({ reports: 2, duration_ms: 12 });
  });
});
