/**
 * Exponential backoff with full jitter, the one retry schedule of the connector: reconnects,
 * token fetches, channel rejoins, settings retries, API requests and telemetry batches all wait
 * a uniform delay in [0, min(cap, base·2^(attempt-1))] (AWS's "full jitter").
 */

/** Where a schedule starts and the ceiling it never passes. */
export interface Backoff {
  /** Ceiling of the first jittered delay; it doubles per failed attempt. */
  baseMs: number;
  /** Largest ceiling. */
  capMs: number;
}

/** Upper bound of the delay before attempt number `attempt` (1-based) after failures. */
export function backoffCeiling(policy: Backoff, attempt: number): number {
  // 2 ** 30 overflows nothing but is pointless past the cap; clamp the exponent.
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt - 1, 30));
}

/**
 * Delay before attempt number `attempt` (1-based): full jitter, uniform in
 * [0, {@link backoffCeiling}]; 0 for `attempt` 0 (at once). `random` is a value in [0, 1).
 */
export function retryDelay(policy: Backoff, attempt: number, random: number): number {
  if (attempt <= 0) return 0;
  return Math.floor(random * backoffCeiling(policy, attempt));
}

/**
 * {@link retryDelay}, but never sooner than the server asked (`Retry-After`): the server's wish is
 * a floor, never a reason to come back sooner than the backoff says.
 */
export function retryDelayAfter(policy: Backoff, attempt: number, random: number, retryAfterMs: number | undefined): number {
  return Math.max(retryDelay(policy, attempt, random), retryAfterMs ?? 0);
}
