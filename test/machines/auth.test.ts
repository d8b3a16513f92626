import { describe, expect, it, vi } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { AuthFetchError, authMachine, defaultAuthPolicy, grantOf, statusOf } from '../../src/machines/auth.ts';
import { authFixture } from '../support/auth-fixture.ts';

describe('auth machine', () => {
  it('fetches a first token and answers a request that waited for it', async () => {
    const f = authFixture();
    expect(f.state()).toBe('attempting');
    f.child.send({ type: 'token.request' });
    const grant = f.grant(60_000);
    f.fetch.open()[0]!.resolve(grant);
    await f.settle();
    expect(f.state()).toEqual({ active: 'valid' });
    expect(f.sent('auth.token')).toEqual([{ type: 'auth.token', grant }]);
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token')).toHaveLength(2);
  });

  it('refreshes proactively at 70-85 % of the lifetime and announces the new token', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    const refreshAt = f.ctx().refreshAt! - f.now();
    expect(refreshAt).toBeGreaterThanOrEqual(70_000);
    expect(refreshAt).toBeLessThanOrEqual(85_000);
    await f.advance(refreshAt - 1);
    expect(f.fetch.open()).toHaveLength(0);
    await f.advance(1);
    expect(f.state()).toEqual({ active: 'refreshing' });
    const next = f.grant(100_000);
    f.fetch.open()[0]!.resolve(next);
    await f.settle();
    expect(f.sent('auth.refreshed')).toEqual([{ type: 'auth.refreshed', grant: next }]);
  });

  it('keeps the session through a 429 and honours Retry-After', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    await f.advance(f.ctx().refreshAt! - f.now());
    f.fetch.open()[0]!.reject(new AuthFetchError('rate_limited', 'slow down', 12_000));
    await f.settle();
    expect(f.state()).toEqual({ active: 'waiting' });
    expect(f.ctx().retryInMs).toBeGreaterThanOrEqual(12_000);
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token')).toHaveLength(1); // still valid: handed out while retrying
    expect(f.sent('auth.unavailable')).toEqual([]);
  });

  it('answers a request made during a refresh with the still-valid token when the refresh fails for a passing reason', async () => {
    const f = authFixture();
    const first = f.grant(100_000);
    f.fetch.open()[0]!.resolve(first);
    await f.settle();
    await f.advance(f.ctx().refreshAt! - f.now());
    f.child.send({ type: 'token.request' }); // a reconnect while the refresh is in flight
    expect(f.sent('auth.token')).toHaveLength(0);
    f.fetch.open()[0]!.reject(new AuthFetchError('rate_limited', 'slow down', 20_000));
    await f.settle();
    expect(f.state()).toEqual({ active: 'waiting' });
    expect(f.sent('auth.token')).toEqual([{ type: 'auth.token', grant: first }]);
  });

  it.each([
    ['rejected', 'credentials_rejected'],
    ['revoked', 'revoked'],
  ] as const)('is unauthorized after a definitive %s, and says so to every request', async (kind, reason) => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    await f.advance(f.ctx().refreshAt! - f.now());
    f.fetch.open()[0]!.reject(new AuthFetchError(kind, 'no'));
    await f.settle();
    expect(f.state()).toBe('unauthorized');
    expect(f.ctx().unauthorized).toBe(reason);
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.unavailable')).toEqual([
      { type: 'auth.unavailable', reason },
      { type: 'auth.unavailable', reason },
    ]);
  });

  it('falls back to inactive when refreshes fail past expiry, and recovers', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(20_000));
    await f.settle();
    for (let i = 0; i < 40 && f.state() !== 'inactive'; i++) {
      await f.advance(1_000);
      f.fetch.open()[0]?.reject(new AuthFetchError('server', '503'));
      await f.settle();
    }
    expect(f.state()).toBe('inactive');
    f.child.send({ type: 'token.request' });
    await f.advance(f.ctx().retryInMs!);
    const fresh = f.grant(20_000);
    f.fetch.open()[0]!.resolve(fresh);
    await f.settle();
    expect(f.sent('auth.token').at(-1)).toEqual({ type: 'auth.token', grant: fresh });
  });

  it('refreshes within a second of waking when the laptop slept past the refresh time', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    await f.advance(10_000);
    f.sleep(3_600_000);
    await f.advance(1_000);
    expect(f.state()).toEqual({ active: 'refreshing' });
  });

  it('hands out no token with less than minValidityMs left: refreshes first', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    f.sleep(97_000); // 3 s left, below the 5 s floor
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token')).toHaveLength(0);
    expect(f.state()).toEqual({ active: 'refreshing' });
    const fresh = f.grant(100_000);
    f.fetch.open()[0]!.resolve(fresh);
    await f.settle();
    expect(f.sent('auth.token')).toEqual([{ type: 'auth.token', grant: fresh }]);
  });

  it('spends exactly one refresh on a rejection by the hub; a second rejection in a row is definitive', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    f.child.send({ type: 'token.rejected' });
    expect(f.state()).toEqual({ active: 'refreshing' });
    expect(f.ctx().grant).toBeUndefined();
    f.child.send({ type: 'token.rejected' }); // while refreshing: no second fetch
    expect(f.fetch.open()).toHaveLength(1);
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    f.child.send({ type: 'token.rejected' });
    expect(f.state()).toBe('unauthorized');
    expect(f.ctx().unauthorized).toBe('rejected_by_hub');
  });

  it('forgives an earlier rejection once the hub accepted a token', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    f.child.send({ type: 'token.rejected' });
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    f.child.send({ type: 'token.accepted' });
    f.child.send({ type: 'token.rejected' });
    expect(f.state()).toEqual({ active: 'refreshing' });
  });

  it('hands out a static token until it expires, then is unauthorized for good', async () => {
    const f = authFixture({ mode: 'static', staticGrant: { token: 'static-tok', expiresAt: 1_000_000 + 60_000 } });
    expect(f.state()).toEqual({ static: 'valid' });
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token')).toEqual([{ type: 'auth.token', grant: { token: 'static-tok', expiresAt: 1_060_000 } }]);
    await f.advance(60_000);
    expect(f.state()).toBe('unauthorized');
    expect(f.ctx().unauthorized).toBe('static_token_expired');
    expect(f.sent('auth.unavailable')).toEqual([{ type: 'auth.unavailable', reason: 'static_token_expired' }]);
    await f.advance(3_600_000);
    expect(f.fetch.calls).toHaveLength(0); // a static token is never "refreshed"
  });

  it('never expires a static token without an expiry', async () => {
    const f = authFixture({ mode: 'static', staticGrant: { token: 'forever', expiresAt: undefined } });
    await f.advance(365 * 86_400_000);
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token')).toHaveLength(1);
  });
});

describe('auth machine on Node timers', () => {
  it('does not expire a static token with no expiry, or one valid for a year', async () => {
    // Node (and vitest's fake timers, which copy it) runs a timer of 2^31 ms or more, or
    // Infinity, after 1 ms. SimulatedClock does not, so this runs on the platform's timers.
    vi.useFakeTimers();
    try {
      for (const expiresAt of [undefined, Date.now() + 365 * 86_400_000]) {
        const got: string[] = [];
        const parent = createMachine({
          invoke: {
            id: 'auth',
            src: authMachine,
            input: { mode: 'static', staticGrant: { token: 't', expiresAt }, policy: defaultAuthPolicy, seed: 1, now: Date.now },
          },
          on: { '*': { actions: ({ event }) => void got.push(event.type) } },
        });
        let timerEvents = 0;
        const actor = createActor(parent, {
          inspect: (e) => void (e.type === '@xstate.event' && e.event.type.startsWith('xstate.after') && timerEvents++),
        }).start();
        vi.advanceTimersByTime(10);
        expect(actor.getSnapshot().children.auth!.getSnapshot().value).toEqual({ static: 'valid' });
        expect(got).toEqual([]);
        expect(timerEvents).toBe(0); // no timer spinning every millisecond
        actor.stop();
      }
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('auth machine: review regressions', () => {
  it("counts a token's lifetime from receipt: a device clock ahead of the hub causes no fetch storm", async () => {
    const f = authFixture();
    // The hub's clock is 2 min behind: by ours the token "expired" a minute ago, yet it lasts 60 s.
    f.fetch.open()[0]!.resolve({ token: 'skewed', expiresAt: f.now() - 60_000, lifetimeMs: 60_000 });
    await f.settle();
    expect(f.ctx().grant!.expiresAt).toBe(f.now() + 60_000);
    await f.advance(10_000);
    expect(f.fetch.calls).toHaveLength(1);
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token').at(-1)).toMatchObject({ grant: { token: 'skewed' } });
  });

  it('never schedules a retry past what a Node timer can hold, whatever Retry-After says', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.reject(new AuthFetchError('rate_limited', 'later', 30 * 86_400_000));
    await f.settle();
    expect(f.state()).toBe('inactive');
    expect(f.ctx().retryInMs).toBe(2 ** 31 - 1);
  });

  it('waits out Retry-After while waiting, even when the token gets too short to hand out', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    await f.advance(f.ctx().refreshAt! - f.now());
    f.fetch.open()[0]!.reject(new AuthFetchError('rate_limited', 'slow down', 60_000));
    await f.settle();
    expect(f.state()).toEqual({ active: 'waiting' });
    f.sleep(f.ctx().grant!.expiresAt! - f.now() - 1_000); // 1 s left: below the floor
    f.child.send({ type: 'token.request' });
    expect(f.sent('auth.token')).toHaveLength(0); // not handed out…
    expect(f.fetch.calls).toHaveLength(2); // …and no fetch before the hub's Retry-After
  });
});

describe('auth statusOf and grantOf', () => {
  it('reports the first fetch, then the token and its expiry', async () => {
    const f = authFixture();
    expect(statusOf(f.child.getSnapshot())).toEqual({ state: 'attempting', reason: f.ctx().reason });
    expect(grantOf(f.child.getSnapshot())).toBeUndefined();
    const grant = f.grant(60_000);
    f.fetch.open()[0]!.resolve(grant);
    await f.settle();
    expect(statusOf(f.child.getSnapshot())).toEqual({ state: 'valid', reason: 'token_issued', expiresAt: grant.expiresAt });
    expect(grantOf(f.child.getSnapshot())).toEqual(grant);
  });

  it('shows the retry delay only while waiting to retry', async () => {
    const f = authFixture();
    f.fetch.open()[0]!.resolve(f.grant(100_000));
    await f.settle();
    await f.advance(f.ctx().refreshAt! - f.now());
    expect(statusOf(f.child.getSnapshot())).not.toHaveProperty('retryInMs');
    f.fetch.open()[0]!.reject(new AuthFetchError('rate_limited', 'slow down', 12_000));
    await f.settle();
    expect(statusOf(f.child.getSnapshot())).toMatchObject({ state: 'waiting', reason: 'fetch_rate_limited', retryInMs: f.ctx().retryInMs });
  });

  it('names a static token `static` and standalone `disabled`', () => {
    const run = (input: Parameters<typeof createActor<typeof authMachine>>[1]) => createActor(authMachine, input).start().getSnapshot();
    expect(
      statusOf(
        run({
          input: { mode: 'static', staticGrant: { token: 't', expiresAt: undefined }, policy: defaultAuthPolicy, seed: 1, now: () => 0 },
        }),
      ).state,
    ).toBe('static');
    expect(statusOf(run({ input: { mode: 'none', policy: defaultAuthPolicy, seed: 1, now: () => 0 } })).state).toBe('disabled');
  });
});
