import { describe, expect, it } from 'vitest';
import { backoffCeiling, retryDelay, retryDelayAfter } from '../../src/util/backoff.ts';

const policy = { baseMs: 1_000, capMs: 30_000 };

describe('backoffCeiling', () => {
  it('doubles from the base per attempt and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((attempt) => backoffCeiling(policy, attempt))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
  });

  it('stays finite for absurd attempt counts', () => {
    expect(backoffCeiling(policy, 10_000)).toBe(30_000);
  });
});

describe('retryDelay', () => {
  it('is at once for attempt 0', () => {
    expect(retryDelay(policy, 0, 0.99)).toBe(0);
  });

  it('is uniform in [0, ceiling): random scales the ceiling', () => {
    expect(retryDelay(policy, 3, 0)).toBe(0);
    expect(retryDelay(policy, 3, 0.5)).toBe(2_000);
    expect(retryDelay(policy, 3, 0.999_999)).toBe(3_999);
  });
});

describe('retryDelayAfter', () => {
  it('takes the server’s Retry-After as a floor', () => {
    expect(retryDelayAfter(policy, 1, 0.5, 7_000)).toBe(7_000);
  });

  it('keeps the backoff when it is longer than Retry-After, or there is none', () => {
    expect(retryDelayAfter(policy, 4, 0.5, 1_000)).toBe(4_000);
    expect(retryDelayAfter(policy, 4, 0.5, undefined)).toBe(4_000);
  });
});
