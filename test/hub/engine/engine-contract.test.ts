import { describe, expect, it } from 'vitest';
import type { RevocationList } from '../../../src/hub/auth/revocations.ts';
import type { SigningKeys } from '../../../src/hub/auth/signing-keys.ts';
import type { ReliableDeviceMessage } from '../../../src/hub/delivery/device-queue.ts';
import type { HubEngine } from '../../../src/hub/engine/hub-engine.ts';
import { MemoryEngine } from '../../../src/hub/engine/memory-engine.ts';
import { RedisEngine } from '../../../src/hub/engine/redis/redis-engine.ts';
import type { SettingsDocuments } from '../../../src/hub/settings/settings-documents.ts';
import type { UsageStore } from '../../../src/hub/usage/usage-store.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import type { MessageOf } from '../../../src/protocol/index.ts';
import { startRedis } from '../../support/redis-server.ts';

/**
 * One contract, both engines: what a hub hands its stores, and what a hub made again on the same
 * engine reads back. For the memory engine "again" is the same process (its durability is the
 * process's life); for the Redis engine it is a new engine, new connection, same Redis.
 */

const clock = { now: 1_767_225_600_000 };
const now = () => clock.now;
const who = { tenant_id: 'acme', device_id: 'laptop-1' };

/** The stores a hub takes from its engine, opened as `listen()` opens them. */
interface Stores {
  engine: HubEngine;
  revocations: RevocationList;
  keys: SigningKeys;
  usage: UsageStore;
  settings: SettingsDocuments;
}

interface EngineUnderTest {
  /** A hub's stores, opened. */
  open(): Promise<Stores>;
  /** The stores a hub made again on the same engine gets (closing `stores` first when the engine is outside). */
  reopen(stores: Stores): Promise<Stores>;
}

async function storesOf(engine: HubEngine): Promise<Stores> {
  const revocations = engine.revocations(now, 60_000);
  const keys = engine.signingKeys({ now, retireAfterMs: 60_000 });
  await engine.open();
  const [usage, settings] = await Promise.all([engine.openUsage(), engine.openSettings()]);
  return { engine, revocations, keys, usage, settings };
}

async function closeStores(stores: Stores): Promise<void> {
  await Promise.all([stores.usage.close(), stores.settings.close()]);
  await stores.engine.close();
}

const engines: Record<string, () => Promise<EngineUnderTest>> = {
  memory: async () => {
    return {
      open: () => storesOf(new MemoryEngine({ defaultCredit: 16 })),
      reopen: async (stores) => stores,
    };
  },
  redis: async () => {
    const redis = await startRedis();
    const open = () => storesOf(new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger() }));
    return {
      open,
      reopen: async (stores) => {
        await closeStores(stores);
        return open();
      },
    };
  },
};

const request = (id: string): ReliableDeviceMessage =>
  ({ type: 'execution_request', request_id: id, job_type: 'tool', tool_name: 'echo' }) as ReliableDeviceMessage;
const cancel = (id: string): ReliableDeviceMessage =>
  ({ type: 'execution_cancel', request_id: id, reason: 'stop' }) as ReliableDeviceMessage;
const report = (reportId: string, duration = 5): MessageOf<'usage_report'> =>
  ({
    v: 1,
    id: `u-${reportId}`,
    ts: 0,
    type: 'usage_report',
    seq: 1,
    report_id: reportId,
    request_id: 'r1',
    executor_device_id: 'laptop-1',
    metrics: { duration_ms: duration },
  }) as MessageOf<'usage_report'>;
const ids = (entries: readonly { message: ReliableDeviceMessage }[]) =>
  entries.map(({ message }) => `${message.type === 'execution_cancel' ? 'cancel:' : ''}${message.request_id}`);
const settled = async (stores: Stores) => {
  for (const { queue } of stores.engine.deviceQueues.all()) await queue.settled();
};

describe.each(Object.keys(engines))('the %s engine', (name) => {
  const setup = engines[name]!;

  it('device queues: sequence numbers, what is out and what waits, and the epoch carry over', async () => {
    const engine = await setup();
    const first = await engine.open();
    const epoch = first.engine.deviceQueues.epoch;
    const queue = first.engine.deviceQueues.of(who);
    for (const id of ['r1', 'r2', 'r3']) queue.enqueue(request(id), clock.now);
    expect([queue.next()?.seq, queue.next()?.seq]).toEqual([1, 2]);
    queue.ack(1);
    await settled(first);

    const again = await engine.reopen(first);
    expect(again.engine.deviceQueues.epoch).toBe(epoch);
    const back = again.engine.deviceQueues.of(who);
    expect(ids(back.entries().unacked)).toEqual(['r2']);
    expect(back.entries().unacked.map((entry) => entry.seq)).toEqual([2]);
    expect(ids(back.entries().waiting)).toEqual(['r3']);
    expect(back.outstanding.has('r2')).toBe(true);
    expect(back.next()?.seq).toBe(3);
    expect(back.unacked().map((entry) => entry.message.seq)).toEqual([2, 3]);
    await closeStores(again);
  });

  it('device queues: a refused message waits again in its place, cancels first, and expiry is counted once', async () => {
    const engine = await setup();
    const first = await engine.open();
    const queue = first.engine.deviceQueues.of(who);
    for (const id of ['r1', 'r2', 'r3']) queue.enqueue(request(id), clock.now);
    queue.next();
    queue.next();
    queue.refused(2);
    queue.enqueue(cancel('r1'), clock.now);
    queue.enqueue(request('old'), clock.now - 10_000);
    expect(queue.expire(clock.now - 5_000).map((entry) => entry.message.request_id)).toEqual(['old']);
    queue.reportedOn('r1');
    await settled(first);

    const again = await engine.reopen(first);
    const back = again.engine.deviceQueues.of(who);
    expect(ids(back.entries().waiting)).toEqual(['cancel:r1', 'r2', 'r3']);
    expect(back.entries().unacked).toEqual([]);
    expect(back.takeExpired()).toBe(1);
    await settled(again);
    const third = await engine.reopen(again);
    expect(third.engine.deviceQueues.of(who).expired).toBe(0);
    // r2 was out as 2; it goes out again with the next number.
    const resent = third.engine.deviceQueues.of(who);
    resent.held = false;
    expect([resent.next()?.message.request_id, resent.next()?.seq]).toEqual(['r1', 4]);
    await closeStores(third);
  });

  it('usage: each (tenant, report id) is booked once, before and after', async () => {
    const engine = await setup();
    const first = await engine.open();
    expect(await first.usage.book(who, report('usage:r1', 7), clock.now)).toBe(true);
    expect(await first.usage.book(who, report('usage:r1', 7), clock.now)).toBe(false);
    expect(await first.usage.book({ ...who, tenant_id: 'globex' }, report('usage:r1', 3), clock.now)).toBe(true);
    expect(await first.usage.book(who, report('usage:r2', 1), clock.now)).toBe(true);

    const again = await engine.reopen(first);
    expect(await again.usage.book(who, report('usage:r1', 7), clock.now)).toBe(false);
    const summary = again.usage.summary('acme');
    expect(summary.reports.map((entry) => entry.report_id)).toEqual(['usage:r1', 'usage:r2']);
    expect(summary.totals).toMatchObject({ reports: 2, duration_ms: 8 });
    expect(again.usage.summary('globex').totals.reports).toBe(1);
    await closeStores(again);
  });

  it('settings: versions, the epoch, version checks and idempotency keys carry over', async () => {
    const engine = await setup();
    const first = await engine.open();
    const epoch = first.settings.epoch;
    const taken = await first.settings.patch('acme', 'org', { theme: 'dark' }, { editId: 'e1', epoch });
    expect(taken).toMatchObject({ ok: true, document: { version: 1, epoch } });
    expect(await first.settings.patch('acme', 'org', { theme: 'light' }, { version: 0 })).toMatchObject({
      ok: false,
      reason: 'version_conflict',
    });

    const again = await engine.reopen(first);
    expect(again.settings.epoch).toBe(epoch);
    expect(again.settings.document('acme', 'org')).toEqual({ epoch, version: 1, settings: { theme: 'dark' } });
    expect(await again.settings.patch('acme', 'org', { theme: 'dark' }, { editId: 'e1', epoch })).toMatchObject({
      ok: true,
      replayed: true,
      document: { version: 1 },
    });
    expect(await again.settings.patch('acme', 'org', { theme: 'light' }, { version: 1 })).toMatchObject({
      ok: true,
      document: { version: 2 },
    });
    expect(again.settings.version('acme', 'user:ada')).toBe(0);
    await closeStores(again);
  });

  it('signing keys: the key that signs, and a retired one, still verify', async () => {
    const engine = await setup();
    const first = await engine.open();
    const old = await first.keys.current();
    const kid = await first.keys.rotate();

    const again = await engine.reopen(first);
    expect((await again.keys.current()).kid).toBe(kid);
    expect(again.keys.verificationKey(old.kid)).toBeDefined();
    expect((await again.keys.jwks()).keys.map((key) => key.kid).sort()).toEqual([old.kid, kid].sort());
    clock.now += 60_000;
    expect(again.keys.verificationKey(old.kid)).toBeUndefined();
    expect(again.keys.verificationKey(kid)).toBeDefined();
    clock.now -= 60_000;
    await closeStores(again);
  });

  it('revocations: devices stay revoked until lifted, token ids until they cannot matter', async () => {
    const engine = await setup();
    const first = await engine.open();
    first.revocations.revokeDevice('laptop-1', 'acme');
    first.revocations.revokeDevice('laptop-2');
    first.revocations.revokeDevice('laptop-3');
    first.revocations.unrevokeDevice('laptop-3');
    first.revocations.revokeToken('jti-1');

    const again = await engine.reopen(first);
    expect(again.revocations.isDeviceRevoked('acme', 'laptop-1')).toBe(true);
    expect(again.revocations.isDeviceRevoked('globex', 'laptop-1')).toBe(false);
    expect(again.revocations.isDeviceRevoked('globex', 'laptop-2')).toBe(true);
    expect(again.revocations.isDeviceRevoked('acme', 'laptop-3')).toBe(false);
    expect(again.revocations.isTokenRevoked('jti-1')).toBe(true);
    again.revocations.unrevokeDevice('laptop-1', 'acme');

    const third = await engine.reopen(again);
    expect(third.revocations.isDeviceRevoked('acme', 'laptop-1')).toBe(false);
    await closeStores(third);
  });

  it('API keys: a key made, used and revoked is the same key after', async () => {
    const engine = await setup();
    const first = await engine.open();
    const kept = first.engine.apiKeys.create('acme', { name: 'ci', permissions: ['usage:read'] }, clock.now)!;
    const gone = first.engine.apiKeys.create('acme', { name: 'old', permissions: ['usage:read'] }, clock.now + 1)!;
    expect(await first.engine.apiKeys.authenticate(kept.secret, clock.now + 1)).toMatchObject({ ok: true });
    first.engine.apiKeys.revoke('acme', gone.id, clock.now + 2);

    const again = await engine.reopen(first);
    expect(await again.engine.apiKeys.authenticate(kept.secret, clock.now + 3)).toMatchObject({
      ok: true,
      key: { id: kept.id, use_count: 2, last_used_at: clock.now + 3 },
    });
    expect(await again.engine.apiKeys.authenticate(gone.secret, clock.now + 3)).toEqual({ ok: false, reason: 'revoked', id: gone.id });
    expect(again.engine.apiKeys.list('acme', clock.now).map((key) => key.name)).toEqual(['ci', 'old']);
    await closeStores(again);
  });
});
