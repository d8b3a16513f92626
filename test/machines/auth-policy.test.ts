import { describe, expect, it } from 'vitest';
import { AuthPolicy, defaultAuthPolicy } from '../../src/machines/auth-policy.ts';

describe('AuthPolicy', () => {
  it('fills in its defaults', () => {
    expect(defaultAuthPolicy).toEqual({
      refreshAt: 0.7,
      refreshJitter: 0.15,
      minValidityMs: 5_000,
      retryBaseMs: 1_000,
      retryCapMs: 300_000,
      wakeCheckMs: 1_000,
    });
    expect(AuthPolicy.parse({ retryCapMs: 10_000 })).toEqual({ ...defaultAuthPolicy, retryCapMs: 10_000 });
  });

  it('refuses a refresh window that could end past expiry', () => {
    expect(AuthPolicy.safeParse({ refreshAt: 0.9, refreshJitter: 0.1 }).success).toBe(false);
    expect(AuthPolicy.safeParse({ refreshAt: 0.9 }).success).toBe(false);
    expect(AuthPolicy.safeParse({ refreshAt: 0.8, refreshJitter: 0.1 }).success).toBe(true);
  });
});
