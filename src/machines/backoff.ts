import { z } from 'zod';

/**
 * Reconnect backoff policy. Defaults follow the peer libraries' published defaults: full jitter as
 * AWS and Centrifuge do, a 1 s base like socket.io, a 30 s cap between Centrifuge's 20 s and
 * AWS's 120 s, Ably's 120 s before `suspended` and 30 s retries there.
 */
export const BackoffPolicy = z.object({
  /** Ceiling of the first jittered delay; it doubles per failed attempt. */
  baseMs: z.number().int().positive().default(1_000),
  /** Largest ceiling. */
  capMs: z.number().int().positive().default(30_000),
  /** Connected this long without a drop resets the attempt count (AWS IoT: 30 s). */
  stableAfterMs: z.number().int().nonnegative().default(30_000),
  /** Not connected for this long: `suspended`, retried every `suspendedRetryMs` (jittered 50-100 %). */
  suspendAfterMs: z.number().int().positive().default(120_000),
  suspendedRetryMs: z.number().int().positive().default(30_000),
  /** After a hub restart (1012/1013/1001) devices come back spread uniformly over this window. */
  restartSpreadMs: z.number().int().nonnegative().default(5_000),
  /**
   * The first retry after a connection ended without a close frame (1006) waits a uniform delay
   * within this window; 0 retries at once (as after any other close from a connection). A hub
   * that crashes drops its whole fleet in the same instant: retried at once, about a third of
   * 1,000 devices came back within one 100 ms window, slowed down as they were by sharing
   * 2 cores (bench/storm).
   */
  dropSpreadMs: z.number().int().nonnegative().default(5_000),
});
export type BackoffPolicy = z.output<typeof BackoffPolicy>;
export type BackoffPolicyInput = z.input<typeof BackoffPolicy>;

/** Delay between attempts in `suspended`: 50-100 % of `suspendedRetryMs`. */
export function suspendedDelay(policy: BackoffPolicy, random: number): number {
  return Math.floor(policy.suspendedRetryMs * (0.5 + random / 2));
}

/** Delay after the hub said it is restarting: uniform over the spread window. */
export function spreadDelay(policy: BackoffPolicy, random: number): number {
  return Math.floor(random * policy.restartSpreadMs);
}

/** Delay of the first retry after a connection ended without a close frame: uniform over `dropSpreadMs`. */
export function dropDelay(policy: BackoffPolicy, random: number): number {
  return Math.floor(random * policy.dropSpreadMs);
}
