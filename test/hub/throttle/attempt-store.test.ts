import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_ATTEMPT_RECORDS, MemoryAttemptStore } from '../../../src/hub/throttle/attempt-store.ts';

const NOW = 1_700_000_000_000;
const lockFor = (ms: number) => () => ({ lockedUntil: NOW + ms, expiresAt: NOW + 60_000 });

describe('MemoryAttemptStore', () => {
  it('counts failures per key and keeps what the caller makes of the count', async () => {
    const store = new MemoryAttemptStore();
    expect(await store.get('a', NOW)).toBeUndefined();
    await store.fail('a', NOW, lockFor(0));
    const second = await store.fail('a', NOW, (failures) => ({ lockedUntil: NOW + failures * 1_000, expiresAt: NOW + 60_000 }));
    expect(second).toEqual({ failures: 2, lockedUntil: NOW + 2_000, expiresAt: NOW + 60_000 });
    expect(await store.get('a', NOW)).toEqual(second);
    expect(await store.get('b', NOW)).toBeUndefined();
  });

  it('forgets a record once it expires, and counts afresh after', async () => {
    const store = new MemoryAttemptStore();
    await store.fail('a', NOW, lockFor(0));
    expect(await store.get('a', NOW + 59_999)).toBeDefined();
    expect(await store.get('a', NOW + 60_000)).toBeUndefined();
    expect((await store.fail('a', NOW + 60_000, lockFor(0))).failures).toBe(1);
    expect(store.size).toBe(1);
  });

  it('keeps marks until they expire', async () => {
    const store = new MemoryAttemptStore();
    await store.mark('seen', NOW + 1_000);
    expect(await store.get('seen', NOW)).toEqual({ failures: 0, lockedUntil: 0, expiresAt: NOW + 1_000 });
    expect(await store.get('seen', NOW + 1_000)).toBeUndefined();
  });

  it('holds at most its bound: 100k distinct addresses do not grow it past it', async () => {
    const store = new MemoryAttemptStore();
    for (let i = 0; i < 100_000; i++) await store.fail(`addr:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, NOW, lockFor(0));
    expect(store.size).toBe(DEFAULT_MAX_ATTEMPT_RECORDS);
    // The most recently written are the ones kept.
    expect(await store.get('addr:10.1.134.159', NOW)).toBeDefined();
    expect(await store.get('addr:10.0.0.0', NOW)).toBeUndefined();
  });

  it('drops the least recently written record first', async () => {
    const store = new MemoryAttemptStore(2);
    await store.fail('a', NOW, lockFor(0));
    await store.fail('b', NOW, lockFor(0));
    await store.fail('a', NOW, lockFor(0));
    await store.fail('c', NOW, lockFor(0));
    expect(store.size).toBe(2);
    expect(await store.get('b', NOW)).toBeUndefined();
    expect((await store.get('a', NOW))?.failures).toBe(2);
  });
});
