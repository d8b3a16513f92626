import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/api/rate-limiter.ts';

describe('TokenBucket', () => {
  it('lets a burst through, then spaces requests at the refill rate', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 3, per_second: 2 }, () => now);
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 0]);
    // Reservations queue behind each other: 0.5 s, then 1 s.
    expect([bucket.reserve(), bucket.reserve()]).toEqual([500, 1_000]);
    now = 1_000;
    expect(bucket.available).toBeCloseTo(0);
    now = 10_000;
    // Refill stops at the burst.
    expect(bucket.available).toBe(3);
  });

  it('holds everything back until a 429 Retry-After has passed', () => {
    let now = 0;
    const bucket = new TokenBucket({ burst: 20, per_second: 10 }, () => now);
    bucket.pause(3_000);
    expect(bucket.reserve()).toBeGreaterThanOrEqual(3_000);
    now = 3_200;
    expect(bucket.reserve()).toBe(0);
  });
});
