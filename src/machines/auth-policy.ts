import { z } from 'zod';

/**
 * The auth machine's refresh and retry policy, with its defaults (`createConnector`'s
 * `authPolicy`). A refresh lands at a jittered `refreshAt`..`refreshAt + refreshJitter` of a
 * token's lifetime, so the two must stay below 1 or a refresh could come after expiry.
 */
export const AuthPolicy = z
  .object({
    /** Refresh at this fraction of a token's lifetime, jittered up to +`refreshJitter`. */
    refreshAt: z.number().gt(0).lt(1).default(0.7),
    refreshJitter: z.number().min(0).lt(1).default(0.15),
    /** A token with less validity left than this is not handed out for a new connection. */
    minValidityMs: z.number().int().nonnegative().default(5_000),
    /** Backoff of failed fetches: full jitter from `retryBaseMs` doubling to `retryCapMs` (5 min). */
    retryBaseMs: z.number().int().positive().default(1_000),
    retryCapMs: z.number().int().positive().default(300_000),
    /** How often the wall clock is compared with the refresh time (sleep, paused process). */
    wakeCheckMs: z.number().int().positive().default(1_000),
  })
  .refine((p) => p.refreshAt + p.refreshJitter < 1, {
    message: 'refreshAt + refreshJitter must stay below 1, or a refresh could come after expiry',
  });
export type AuthPolicy = z.output<typeof AuthPolicy>;

export const defaultAuthPolicy: AuthPolicy = AuthPolicy.parse({});
