import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { StorageError } from '../../src/adapters/storage.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { StorageHealth, type StorageStatus } from '../../src/storage/storage-health.ts';
import { settle } from '../support/execution-fixture.ts';

const enospc = (path = '/state/outbox.log') =>
  new StorageError(path, 'cannot write (ENOSPC)', Object.assign(new Error('no space'), { code: 'ENOSPC' }));

function healthFixture() {
  const clock = new SimulatedClock();
  clock.set(1_000);
  let diskFull = true;
  let probes = 0;
  const changes: StorageStatus[] = [];
  const health = new StorageHealth({
    clock,
    logger: silentLogger(),
    probe: async () => {
      probes += 1;
      if (diskFull) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
    },
    onChange: (status) => changes.push(status),
  });
  return { clock, health, changes, probes: () => probes, spaceBack: () => void (diskFull = false) };
}

describe('storage health', () => {
  it('reports a failure with its path and code, probes with doubling backoff up to the cap, and recovers when a probe succeeds', async () => {
    const { clock, health, changes, probes, spaceBack } = healthFixture();
    expect(health.status).toEqual({ state: 'ok', reason: 'started' });
    health.failed(enospc());
    health.failed(enospc('/state/executions.log')); // the same spell: no second report
    expect(changes).toEqual([
      { state: 'failing', reason: 'write_failed', path: '/state/outbox.log', code: 'ENOSPC', since: 1_000, attempt: 0, retryInMs: 200 },
    ]);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const status = health.status as Extract<StorageStatus, { state: 'failing' }>;
      delays.push(status.retryInMs);
      clock.increment(status.retryInMs - 1);
      await settle();
      expect(probes()).toBe(i);
      clock.increment(1);
      await settle();
      expect(probes()).toBe(i + 1);
    }
    expect(delays).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    spaceBack();
    clock.increment(5_000);
    await settle();
    expect(health.status).toEqual({ state: 'ok', reason: 'recovered' });
    expect(health.failing).toBe(false);
  });

  it('runs what waits in the order it began waiting, and runs an operation again until it succeeds', async () => {
    const { clock, health, spaceBack } = healthFixture();
    const order: string[] = [];
    let attempts = 0;
    const first = health.retry(async () => {
      attempts += 1;
      if (attempts === 1) throw enospc();
      order.push('first');
    });
    await settle();
    expect(health.failing).toBe(true);
    const second = health.recovered().then(() => void order.push('second'));
    spaceBack();
    clock.increment(200);
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
    expect(attempts).toBe(2);
    // Not a storage failure: the caller's to handle, not retried, and storage stays healthy.
    await expect(health.retry(async () => Promise.reject(new TypeError('bug')))).rejects.toThrow(TypeError);
    expect(health.failing).toBe(false);
  });

  it('runs an operation at once while storage is healthy, not a turn later', async () => {
    const { health } = healthFixture();
    const ran: string[] = [];
    const done = health.retry(async () => void ran.push('operation'));
    ran.push('returned');
    await done;
    expect(ran).toEqual(['operation', 'returned']);
  });

  it('stops probing when stopped, and rejects what waits', async () => {
    const { clock, health, probes } = healthFixture();
    health.failed(enospc());
    const waiting = health.recovered();
    health.stop();
    await expect(waiting).rejects.toThrow(/stopped while storage was failing/);
    clock.increment(60_000);
    await settle();
    expect(probes()).toBe(0);
  });
});
