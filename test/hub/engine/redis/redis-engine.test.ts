import { describe, expect, it } from 'vitest';
import type { ReliableDeviceMessage } from '../../../../src/hub/delivery/device-queue.ts';
import { RedisEngine } from '../../../../src/hub/engine/redis/redis-engine.ts';
import { createHub, HubError } from '../../../../src/hub/index.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import type { MessageOf } from '../../../../src/protocol/index.ts';
import { startRedis, startRedisOfVersion } from '../../../support/redis-server.ts';

const now = () => 1_767_225_600_000;
const report = {
  v: 1,
  id: 'u-1',
  ts: 0,
  type: 'usage_report',
  seq: 1,
  report_id: 'usage:r1',
  request_id: 'r1',
  executor_device_id: 'd',
  metrics: { duration_ms: 1 },
} as MessageOf<'usage_report'>;
const who = { tenant_id: 'acme', device_id: 'laptop-1' };

/** Two engines on one Redis, as two hub processes would be: the atomic steps decide between them. */
async function twoEngines() {
  const redis = await startRedis();
  const make = () => new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger() });
  const [a, b] = [make(), make()];
  const keys = [a.signingKeys({ now, retireAfterMs: 60_000 }), b.signingKeys({ now, retireAfterMs: 60_000 })] as const;
  await Promise.all([a.open(), b.open()]);
  return { a, b, keys, close: () => Promise.all([a.close(), b.close()]) };
}

describe('the Redis engine', () => {
  it('books a report once when two hubs are handed it at the same time', async () => {
    const { a, b, close } = await twoEngines();
    const [ledgerA, ledgerB] = await Promise.all([a.openUsage(), b.openUsage()]);
    const booked = await Promise.all([ledgerA.book(who, report, now()), ledgerB.book(who, report, now())]);
    expect(booked.filter(Boolean)).toHaveLength(1);
    await close();
  });

  it('stores a settings version once: the second writer of the same version is refused, not overwriting', async () => {
    const { a, b, close } = await twoEngines();
    const [settingsA, settingsB] = await Promise.all([a.openSettings(), b.openSettings()]);
    expect(settingsA.epoch).toBe(settingsB.epoch);
    expect(await settingsA.patch('acme', 'org', { theme: 'dark' })).toMatchObject({ ok: true, document: { version: 1 } });
    await expect(settingsB.patch('acme', 'org', { theme: 'light' })).rejects.toMatchObject({ code: 'invalid_state' });
    await close();
  });

  it('never gives one sequence number to two messages of a device', async () => {
    const { a, b, close } = await twoEngines();
    const message = (id: string) =>
      ({ type: 'execution_request', request_id: id, job_type: 'tool', tool_name: 'echo' }) as ReliableDeviceMessage;
    const [queueA, queueB] = [a.deviceQueues.of(who), b.deviceQueues.of(who)];
    queueA.enqueue(message('ra'), now());
    queueB.enqueue(message('rb'), now());
    expect([queueA.next()?.seq, queueB.next()?.seq]).toEqual([1, 1]);
    // Two connections: whichever script Redis runs first takes seq 1, the other is refused.
    const outcomes = await Promise.allSettled([queueA.settled(), queueB.settled()]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected')!;
    expect(String(refused.reason)).toMatch(/seq 1 does not follow the stored 1/);
    await close();
  });

  it('signs with one key when two hubs make their first at the same time', async () => {
    const { keys, close } = await twoEngines();
    const [first, second] = await Promise.all([keys[0].current(), keys[1].current()]);
    expect(first.kid).toBe(second.kid);
    expect((await keys[0].jwks()).keys.map((key) => key.kid)).toEqual([first.kid]);
    await close();
  });
});

describe('hubs on one Redis under different key prefixes', () => {
  it('keep apart: their own delivery epoch, ledger and keys', async () => {
    const redis = await startRedis();
    const make = (keyPrefix: string) => new RedisEngine({ url: redis.url, keyPrefix, defaultCredit: 16, logger: silentLogger() });
    const [eu, us] = [make('hub-eu:'), make('hub-us:')];
    await Promise.all([eu.open(), us.open()]);
    expect(eu.deviceQueues.epoch).not.toBe(us.deviceQueues.epoch);
    const [ledgerEu, ledgerUs] = await Promise.all([eu.openUsage(), us.openUsage()]);
    expect(await ledgerEu.book(who, report, now())).toBe(true);
    expect(await ledgerUs.book(who, report, now())).toBe(true);
    await Promise.all([eu.close(), us.close()]);
  });
});

describe('a hub on Redis before listen()', () => {
  it('keeps API keys and revocations made before it connects, and refuses work until then', async () => {
    const redis = await startRedis();
    const options = { staticToken: 't', engine: { redis: redis.url } };
    const early = createHub(options);
    const key = early.api.createApiKey('acme', { name: 'early', permissions: ['usage:read'] });
    early.revokeDevice('laptop-1', { tenantId: 'acme' });
    expect(() => early.execute('laptop-1', { job_type: 'tool', tool_name: 'echo' }, { tenantId: 'acme' })).toThrow(/opens with listen\(\)/);
    await early.listen({ port: 0 });
    await early.close();

    const later = createHub(options);
    const { port } = await later.listen({ port: 0 });
    const whoami = await fetch(`http://127.0.0.1:${port}/v1/whoami`, { headers: { authorization: `Bearer ${key.secret}` } });
    expect(whoami.status).toBe(200);
    expect(later.api.apiKeys('acme').map((k) => k.name)).toEqual(['early']);
    later.unrevokeDevice('laptop-1', { tenantId: 'acme' });
    await later.close();
  });
});

describe('a hub on Redis issuing tokens', () => {
  it('refuses to sign before listen(), and a signing that waited for a Redis that refuses fails with why', async () => {
    const redis = await startRedis();
    await redis.stop();
    const hub = createHub({ tokens: {}, engine: { redis: redis.url } });
    await expect(hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' })).rejects.toMatchObject({ code: 'invalid_state' });
    const listening = hub.listen({ port: 0 });
    const signing = hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
    await expect(listening).rejects.toMatchObject({ code: 'engine_unavailable' });
    await expect(signing).rejects.toMatchObject({ code: 'engine_unavailable' });
    await hub.close();
  });
});

describe('a hub on Redis that cannot start', () => {
  it('refuses a URL that is not a Redis URL when it is made, with one line', () => {
    for (const [url, why] of [
      ['not a url', /invalid Redis URL: not a URL; use redis:\/\/host:port\[\/db\]$/],
      ['http://127.0.0.1:6379', /scheme must be redis:\/\/ or rediss:\/\/$/],
      ['redis://127.0.0.1:6379/zero', /the path must be a database number$/],
    ] as const) {
      const made = () => createHub({ staticToken: 't', engine: { redis: url } });
      expect(made).toThrow(HubError);
      expect(made).toThrow(why);
    }
    expect(() => createHub({ staticToken: 't', engine: { redis: 'redis://127.0.0.1' }, usageLedgerPath: '/tmp/x.log' })).toThrow(
      /files of the memory engine/,
    );
  });

  it('fails listen() at once with engine_unavailable when Redis refuses, without the password', async () => {
    const redis = await startRedis();
    await redis.stop();
    const hub = createHub({ staticToken: 't', engine: { redis: `redis://:hunter2@127.0.0.1:${redis.port}` } });
    const failed = await hub.listen({ port: 0 }).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(HubError);
    expect(failed).toMatchObject({ code: 'engine_unavailable' });
    expect((failed as Error).message).toMatch(
      new RegExp(`^cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}: .*ECONNREFUSED`),
    );
    expect((failed as Error).message).not.toContain('hunter2');
    expect((failed as Error).message).not.toContain('\n');
    await hub.close();
  });

  it('fails listen() with engine_unavailable on a Redis older than 6.2', async () => {
    const old = await startRedisOfVersion('5.0.14');
    const hub = createHub({ staticToken: 't', engine: { redis: old.url } });
    await expect(hub.listen({ port: 0 })).rejects.toMatchObject({
      code: 'engine_unavailable',
      message: `Redis at ${old.url} is 5.0.14; the hub needs Redis 6.2.0 or newer`,
    });
    await hub.close();
  });
});
