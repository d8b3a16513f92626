import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMIT, RateLimit } from '../../../src/api/contract.ts';
import { RateLimiter } from '../../../src/hub/api/api-rate-limit.ts';
import { createHub, HubError } from '../../../src/hub/index.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';
import { api, asDevice, keyOf, withKey } from '../api-helpers.ts';

const LIMIT = { burst: 5, per_second: 2 };

describe('REST API rate limit', () => {
  it('lets exactly `burst` requests through, then 429 with retry-after, and refills with time', async () => {
    const clock = new ManualClock();
    const { hub, port } = await startHub({ staticToken: TOKEN, clock, apiRateLimit: LIMIT });
    const { secret } = keyOf(hub, 'tenant-1');

    const answers = [];
    for (let i = 0; i < LIMIT.burst + 3; i += 1) answers.push(await api(port, 'GET', '/v1/whoami', withKey(secret)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    expect(answers.map((a) => a.headers.get('ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0', '0', '0', '0']);
    for (const answer of answers) expect(answer.headers.get('ratelimit-limit')).toBe('5');
    expect(answers[0]?.headers.get('ratelimit-reset')).toBe('1'); // one request short of full, at 2 a second
    const refused = answers[LIMIT.burst]!;
    expect(refused.body).toMatchObject({ error: 'rate_limited' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('ratelimit-reset')).toBe('3'); // 5 requests at 2 a second
    expect(answers[0]?.headers.get('retry-after')).toBeNull();

    // Another credential has its own bucket.
    expect((await api(port, 'GET', '/v1/whoami', asDevice())).status).toBe(200);

    clock.advance(1_000); // two requests' worth
    const after = [];
    for (let i = 0; i < 4; i += 1) after.push((await api(port, 'GET', '/v1/whoami', withKey(secret))).status);
    expect(after).toEqual([200, 200, 429, 429]);

    clock.advance(60_000);
    expect((await api(port, 'GET', '/v1/limits', withKey(secret))).headers.get('ratelimit-remaining')).toBe('4');
  });

  it('puts the rate limit headers on every answer, refusals included, and publishes the limit', async () => {
    const { hub, port } = await startHub({ staticToken: TOKEN, apiRateLimit: LIMIT });
    const { secret } = keyOf(hub, 'tenant-1', ['usage:read']);
    const limits = await api(port, 'GET', '/v1/limits', withKey(secret));
    expect(RateLimit.parse(limits.body)).toEqual(LIMIT);
    for (const answer of [
      limits,
      await api(port, 'GET', '/v1/whoami'),
      await api(port, 'GET', '/v1/api-keys', withKey(secret)),
      await api(port, 'GET', '/v1/shares/shr_unknown'),
    ]) {
      expect(answer.headers.get('ratelimit-limit')).toBe('5');
      expect(answer.headers.get('ratelimit-remaining')).toMatch(/^\d+$/);
      expect(answer.headers.get('ratelimit-reset')).toMatch(/^\d+$/);
    }
  });

  it('charges requests without a valid credential to their address, not to a credential', async () => {
    const clock = new ManualClock();
    const { hub, port } = await startHub({ staticToken: TOKEN, clock, apiRateLimit: LIMIT });
    const { secret } = keyOf(hub, 'tenant-1');
    const bad = [];
    for (let i = 0; i < LIMIT.burst + 1; i += 1) bad.push((await api(port, 'GET', '/v1/whoami', withKey(`${secret}x`))).status);
    // Refused until the address's bucket is empty, then limited.
    expect(bad).toEqual([401, 401, 401, 401, 401, 429]);
    const good = await api(port, 'GET', '/v1/whoami', withKey(secret));
    expect(good.status).toBe(200);
    expect(good.headers.get('ratelimit-remaining')).toBe('4');
  });

  it('publishes the default limit and refuses a bad option', async () => {
    const { hub, port } = await startHub();
    const { secret } = keyOf(hub, 'tenant-1');
    expect((await api(port, 'GET', '/v1/limits', withKey(secret))).body).toEqual(DEFAULT_RATE_LIMIT);
    for (const apiRateLimit of [
      { burst: 0, per_second: 1 },
      { burst: 1.5, per_second: 1 },
      { burst: 5, per_second: 0 },
    ]) {
      expect(() => createHub({ staticToken: TOKEN, apiRateLimit })).toThrow(HubError);
    }
  });
});

describe('RateLimiter', () => {
  it('forgets buckets once they are full again, lazily', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(LIMIT, () => clock.now());
    for (let i = 0; i < 100; i += 1) limiter.take(`caller-${i}`);
    limiter.take('busy');
    limiter.take('busy');
    expect(limiter.size).toBe(101);
    clock.advance(2_500); // one fill time (5 at 2 a second): every bucket that took one is full again
    limiter.take('busy');
    limiter.take('busy');
    expect(limiter.size).toBe(1);
    clock.advance(60_000);
    limiter.take('someone');
    expect(limiter.size).toBe(1);
  });
});
