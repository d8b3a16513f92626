import type { ServerResponse } from 'node:http';
import { reply } from '../../http/reply.ts';

/**
 * Answers an attempt refused by the throttle: `429 { error: 'too_many_attempts', retry_after_s }`
 * with `retry-after` in whole seconds (at least 1), and `headers` (e.g. `cache-control`).
 *
 * @example
 * if (!gate.ok) return replyThrottled(res, gate.retryAfterMs, NO_STORE);
 */
export function replyThrottled(res: ServerResponse, retryAfterMs: number, headers: Record<string, string> = {}): void {
  const { body, headers: retryAfter } = throttledAnswer(retryAfterMs);
  reply(res, 429, body, { ...headers, ...retryAfter });
}

/**
 * The body and the `retry-after` header of a 429 for a throttled attempt, for routes that answer
 * through their own helper (the REST API adds its rate-limit headers).
 *
 * @example
 * throttledAnswer(1_500); // { body: { error: 'too_many_attempts', message: 'too many failed attempts: retry in 2 s', retry_after_s: 2 }, headers: { 'retry-after': '2' } }
 */
export function throttledAnswer(retryAfterMs: number): {
  body: { error: 'too_many_attempts'; message: string; retry_after_s: number };
  headers: { 'retry-after': string };
} {
  const seconds = retryAfterSeconds(retryAfterMs);
  return {
    body: { error: 'too_many_attempts', message: `too many failed attempts: retry in ${seconds} s`, retry_after_s: seconds },
    headers: { 'retry-after': String(seconds) },
  };
}

/** A lock-out's remaining time in whole seconds, rounded up, at least 1 (as `retry-after` says it). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1_000));
}
