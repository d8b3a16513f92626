import { describe, expect, it } from 'vitest';
import { MemoryAttemptStore } from '../../../src/hub/throttle/attempt-store.ts';
import { type Attempt, FailureThrottle, type ThrottlePolicy } from '../../../src/hub/throttle/failure-throttle.ts';
import { captureLog } from '../token-helpers.ts';

const POLICY: ThrottlePolicy = { freeFailuresPerAddress: 3, freeFailuresPerCredential: 5, baseLockoutMs: 1_000, maxLockoutMs: 8_000 };

function throttleOnClock(policy: ThrottlePolicy = POLICY, store = new MemoryAttemptStore()) {
  let now = 1_700_000_000_000;
  const log = captureLog();
  const throttle = new FailureThrottle({ store, familiar: new MemoryAttemptStore(), policy, now: () => now, logger: log.logger });
  return { throttle, log, store, advance: (ms: number) => (now += ms) };
}

const from = (address: string, id = 'tenant-1/device-1'): Attempt => ({ kind: 'device_secret', address, id });
const lines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.includes('failed credentials throttled'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('FailureThrottle', () => {
  it('admits the free failures, then locks the address for windows that double up to the cap', async () => {
    const { throttle, advance } = throttleOnClock();
    const a = from('192.0.2.1');
    for (let i = 0; i < 3; i++) {
      expect(await throttle.admit(a)).toEqual({ ok: true });
      await throttle.fail(a);
    }
    expect(await throttle.admit(a)).toEqual({ ok: true });
    const windows: number[] = [];
    for (let i = 0; i < 6; i++) {
      await throttle.fail(a);
      const verdict = await throttle.admit(a);
      if (verdict.ok) throw new Error('expected a lock-out');
      expect(verdict.scope).toBe('address');
      windows.push(verdict.retryAfterMs);
      advance(verdict.retryAfterMs - 1);
      expect((await throttle.admit(a)).ok).toBe(false);
      advance(1);
      expect(await throttle.admit(a)).toEqual({ ok: true });
    }
    expect(windows).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it('forgets an address a cap after its last lock-out ends', async () => {
    const { throttle, advance } = throttleOnClock();
    const a = from('192.0.2.1');
    for (let i = 0; i < 4; i++) await throttle.fail(a);
    advance(1_000 + 8_000);
    for (let i = 0; i < 3; i++) await throttle.fail(a);
    expect(await throttle.admit(a)).toEqual({ ok: true });
  });

  it('does not hold an address lock against another address', async () => {
    const { throttle } = throttleOnClock();
    for (let i = 0; i < 4; i++) await throttle.fail(from('192.0.2.1', `tenant-1/device-${i}`));
    expect((await throttle.admit(from('192.0.2.1', 'tenant-1/device-9'))).ok).toBe(false);
    expect(await throttle.admit(from('192.0.2.2'))).toEqual({ ok: true });
  });

  it('locks a credential id failed from many addresses, except from an address it succeeded from', async () => {
    const { throttle } = throttleOnClock();
    await throttle.succeed(from('198.51.100.9'));
    for (let i = 0; i < 6; i++) await throttle.fail(from(`192.0.2.${i}`));
    expect(await throttle.admit(from('203.0.113.1'))).toEqual({ ok: false, retryAfterMs: 1_000, scope: 'credential' });
    expect(await throttle.admit(from('198.51.100.9'))).toEqual({ ok: true });
    expect(await throttle.admit(from('203.0.113.1', 'tenant-1/device-2'))).toEqual({ ok: true });
  });

  it('counts each kind of credential apart', async () => {
    const { throttle } = throttleOnClock();
    for (let i = 0; i < 4; i++) await throttle.fail({ kind: 'admin_token', address: '192.0.2.1' });
    expect((await throttle.admit({ kind: 'admin_token', address: '192.0.2.1' })).ok).toBe(false);
    expect(await throttle.admit({ kind: 'api_key', address: '192.0.2.1', id: 'k' })).toEqual({ ok: true });
  });

  it('logs each lock-out once, when it starts, with ids and addresses but no credential', async () => {
    const { throttle, log, advance } = throttleOnClock();
    const a = from('192.0.2.1');
    for (let i = 0; i < 4; i++) await throttle.fail(a);
    // Refused attempts in the window log nothing.
    for (let i = 0; i < 50; i++) await throttle.admit(a);
    expect(lines(log.output())).toEqual([
      expect.objectContaining({
        level: 40,
        kind: 'device_secret',
        scope: 'address',
        address: '192.0.2.1',
        credential_id: 'tenant-1/device-1',
        failures: 4,
        retry_after_s: 1,
      }),
    ]);
    advance(1_000);
    await throttle.fail(a);
    expect(lines(log.output()).map((line) => line.retry_after_s)).toEqual([1, 2]);
  });

  it('keeps its store bounded under failures from 100k addresses', async () => {
    const store = new MemoryAttemptStore(1_000);
    const { throttle } = throttleOnClock(POLICY, store);
    for (let i = 0; i < 100_000; i++)
      await throttle.fail({ kind: 'admin_token', address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
    expect(store.size).toBe(1_000);
  });
});
