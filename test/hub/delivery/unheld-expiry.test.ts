import { describe, expect, it, onTestFinished } from 'vitest';
import { EXPIRY_LEASE_RENEW_MS } from '../../../src/hub/delivery/unheld-expiry.ts';
import type { ExecutionResult } from '../../../src/hub/delivery/executions.ts';
import type { Hub } from '../../../src/hub/index.ts';
import { until } from '../../support/loopback.ts';
import { type RedisServer, startRedis } from '../../support/redis-server.ts';
import { ManualClock, startHub, TestClient, TOKEN } from '../helpers.ts';

/**
 * Work for a device connected to no hub node expires at the end of its resume window, on the
 * hub's clock, swept by the one node holding the lease in Redis (docs/scaling.md, "Several nodes").
 */
const WINDOW_MS = 60_000;
const LEASE = 'cloudtether:delivery:expiry-lease';
const tool = (request_id: string) => ({ request_id, job_type: 'tool', tool_name: 'echo' }) as const;
const chat = { channel: 'line', event_type: 'message', user_id: 'u-1', message: { text: 'hi' } } as const;

/** Two hub nodes on `redis`, both on one manual clock. */
async function twoNodes(
  redis: RedisServer,
): Promise<{ clock: ManualClock; nodes: Record<string, { hub: Hub; url: string; port: number }> }> {
  const clock = new ManualClock();
  const options = { staticToken: TOKEN, clock, heartbeatIntervalMs: 600_000, heartbeatTimeoutMs: 600_000 };
  const node = (nodeId: string) => startHub({ ...options, engine: { redis: redis.url }, nodeId, delivery: { resumeWindowMs: WINDOW_MS } });
  return { clock, nodes: { 'node-a': await node('node-a'), 'node-b': await node('node-b') } };
}

async function admin(redis: RedisServer) {
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url);
  onTestFinished(() => client.disconnect());
  return client;
}

/** Settles into `results` when the handle ends. */
function follow(result: Promise<ExecutionResult>, results: ExecutionResult[]): void {
  void result.then((ended) => results.push(ended));
}

describe('work for a device no hub node holds', () => {
  it('ends undelivered at the end of its resume window, on every node, without the device connecting; the device is then told it missed it', async () => {
    const redis = await startRedis();
    const { clock, nodes } = await twoNodes(redis);
    const a = nodes['node-a']!;
    const b = nodes['node-b']!;
    const run = a.hub.execute('dev-9', tool('r1'), { tenantId: 'tenant-1' });
    await run.stored;
    const { reply } = b.hub.sendMessagingEvent('dev-9', chat, { tenantId: 'tenant-1' });
    const ended: ExecutionResult[] = [];
    follow(run.result, ended);
    const redisAdmin = await admin(redis);
    // One node holds the lease; the other does not sweep.
    await until(async () => /^node-[ab]\|\d+$/.test((await redisAdmin.get(LEASE)) ?? ''));

    clock.advance(WINDOW_MS + 1_000);
    await until(() => ended.length === 1);
    expect(ended[0]).toEqual({
      request_id: 'r1',
      status: 'undelivered',
      data: { reason: 'resume_window_passed', waited_ms: expect.any(Number) },
    });
    expect((ended[0]!.data as { waited_ms: number }).waited_ms).toBeGreaterThanOrEqual(WINDOW_MS);
    expect(await reply).toEqual({ status: 'undelivered', reason: 'resume_window_passed' });
    expect(a.hub.execution('r1')?.status).toBe('undelivered');
    // The copy every node answers from says so too.
    const copy = await (await fetch(`http://127.0.0.1:${b.port}/v1/executions/r1`)).json();
    expect(copy).toMatchObject({ request_id: 'r1', status: 'undelivered', outcome: { reason: 'resume_window_passed' } });

    // The device connects at last: nothing waits for it, and its connect_ack says what it missed.
    const { client, ack } = await TestClient.connect(b.url, { device_id: 'dev-9' });
    expect(ack.resume).toMatchObject({ status: 'expired', missed: 2 });
    expect(b.hub.capacityOf({ device_id: 'dev-9', tenant_id: 'tenant-1' })).toMatchObject({ waiting: 0, outstanding: 0 });
    await client.close();
  });

  it('a node that dies with the lease: another takes it once it runs out, and expires the work', async () => {
    const redis = await startRedis();
    const { clock, nodes } = await twoNodes(redis);
    const redisAdmin = await admin(redis);
    await until(async () => /^node-[ab]\|\d+$/.test((await redisAdmin.get(LEASE)) ?? ''));
    const holder = (await redisAdmin.get(LEASE))!.split('|')[0]!;
    const survivor = holder === 'node-a' ? 'node-b' : 'node-a';
    nodes[holder]!.hub.faults.crash();
    const run = nodes[survivor]!.hub.execute('dev-7', tool('r2'), { tenantId: 'tenant-1' });
    await run.stored;
    const ended: ExecutionResult[] = [];
    follow(run.result, ended);
    // Each turn moves the hub clock on by one renewal: the survivor takes the lease once the dead node's has run out.
    await until(
      async () => (await redisAdmin.get(LEASE))?.startsWith(`${survivor}|`) === true,
      () => clock.advance(EXPIRY_LEASE_RENEW_MS),
    );
    expect(ended).toEqual([]);
    await until(
      () => ended.length === 1,
      () => clock.advance(EXPIRY_LEASE_RENEW_MS),
    );
    expect(ended[0]).toMatchObject({ request_id: 'r2', status: 'undelivered', data: { reason: 'resume_window_passed' } });
  });

  it('a node that closes lets the lease go', async () => {
    const redis = await startRedis();
    const { nodes } = await twoNodes(redis);
    const redisAdmin = await admin(redis);
    await until(async () => /^node-[ab]\|\d+$/.test((await redisAdmin.get(LEASE)) ?? ''));
    const holder = (await redisAdmin.get(LEASE))!.split('|')[0]!;
    await nodes[holder]!.hub.close();
    expect((await redisAdmin.get(LEASE)) ?? '').not.toMatch(new RegExp(`^${holder}\\|`));
  });
});
