import type { RateLimit } from '../../api/contract.ts';

/** What one request got from its bucket, and what the answer's headers say. */
export interface RateVerdict {
  ok: boolean;
  /** The bucket's size (`burst`). */
  limit: number;
  /** Whole requests left after this one. */
  remaining: number;
  /** Whole seconds until the bucket is full again. */
  resetS: number;
  /** When refused: whole seconds until one request fits, at least 1. */
  retryAfterS: number;
}

/**
 * Where the REST API's token buckets are kept: {@link RateLimiter} in this process, or a store
 * every hub node shares (the Redis engine's), so one budget holds across nodes.
 */
export interface RateBuckets {
  /** Takes one request from `key`'s bucket, when there is one to take. */
  take(key: string): RateVerdict | Promise<RateVerdict>;
}

/**
 * The verdict of a bucket left holding `tokens` after a request (`ok`: the request took one).
 *
 * @example
 * verdictOf({ burst: 20, per_second: 10 }, 19, true); // { ok: true, limit: 20, remaining: 19, resetS: 1, retryAfterS: 0 }
 */
export function verdictOf(limit: RateLimit, tokens: number, ok: boolean): RateVerdict {
  const { burst, per_second: perSecond } = limit;
  return {
    ok,
    limit: burst,
    remaining: Math.floor(tokens),
    resetS: Math.ceil((burst - tokens) / perSecond),
    retryAfterS: ok ? 0 : Math.max(1, Math.ceil((1 - tokens) / perSecond)),
  };
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets, one per key (a credential, or the address of a caller without one): each holds
 * up to `burst` requests and refills at `per_second`. A full bucket means the same as none, so
 * full buckets are dropped, lazily, at most once per time it takes an empty one to fill: the
 * buckets kept are those of callers seen within about two fill times.
 *
 * @example
 * const limiter = new RateLimiter({ burst: 20, per_second: 10 }, () => clock.now());
 * const verdict = limiter.take('key:3f9a…');
 * if (!verdict.ok) return reply(res, 429, { error: 'rate_limited' }, rateLimitHeaders(verdict));
 */
export class RateLimiter implements RateBuckets {
  readonly #buckets = new Map<string, Bucket>();
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #fillMs: number;
  #sweptAt: number;

  constructor(limit: RateLimit, now: () => number) {
    this.#limit = limit;
    this.#now = now;
    this.#fillMs = Math.max(1_000, (limit.burst / limit.per_second) * 1_000);
    this.#sweptAt = now();
  }

  /** Takes one request from `key`'s bucket, when there is one to take. */
  take(key: string): RateVerdict {
    const now = this.#now();
    this.#sweep(now);
    const bucket = this.#buckets.get(key) ?? { tokens: this.#limit.burst, at: now };
    bucket.tokens = this.#level(bucket, now);
    bucket.at = now;
    const ok = bucket.tokens >= 1;
    if (ok) bucket.tokens -= 1;
    this.#buckets.set(key, bucket);
    return verdictOf(this.#limit, bucket.tokens, ok);
  }

  /** How many buckets are kept (full ones may linger until the next sweep). */
  get size(): number {
    return this.#buckets.size;
  }

  #level(bucket: Bucket, now: number): number {
    return Math.min(this.#limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) * this.#limit.per_second) / 1_000);
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < this.#fillMs) return;
    this.#sweptAt = now;
    for (const [key, bucket] of this.#buckets) if (this.#level(bucket, now) >= this.#limit.burst) this.#buckets.delete(key);
  }
}

/**
 * The headers of every API answer: `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset`,
 * and `retry-after` on a refusal.
 *
 * @example
 * rateLimitHeaders(limiter.take(key)); // { 'ratelimit-limit': '20', 'ratelimit-remaining': '19', 'ratelimit-reset': '1' }
 */
export function rateLimitHeaders(verdict: RateVerdict): Record<string, string> {
  return {
    'ratelimit-limit': String(verdict.limit),
    'ratelimit-remaining': String(verdict.remaining),
    'ratelimit-reset': String(verdict.resetS),
    ...(!verdict.ok && { 'retry-after': String(verdict.retryAfterS) }),
  };
}
