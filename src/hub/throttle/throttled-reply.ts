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
  const seconds = retryAfterSeconds(retryAfterMs);
  reply(res, 429, { error: 'too_many_attempts', message: `too many failed attempts: retry in ${seconds} s`, retry_after_s: seconds }, { ...headers, 'retry-after': String(seconds) });
}

/** A lock-out's remaining time in whole seconds, rounded up, at least 1 (as `retry-after` says it). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1_000));
}
