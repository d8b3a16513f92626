import type { RateLimit } from './contract.ts';

/**
 * A token bucket on an injected clock: `burst` requests at once, refilled at `per_second`. The
 * API client takes a token before every request, so a connector never sends faster than the
 * hub's published limit (`GET /v1/limits`), and a 429 from the hub empties the bucket until its
 * `Retry-After` has passed.
 *
 * @example
 * const bucket = new TokenBucket({ burst: 20, per_second: 10 }, () => clock.now());
 * const waitMs = bucket.reserve(); // 0 while tokens last, then the wait for the next one
 */
export class TokenBucket {
  readonly #limit: RateLimit;
  readonly #now: () => number;
  #tokens: number;
  #updated: number;

  constructor(limit: RateLimit, now: () => number) {
    this.#limit = limit;
    this.#now = now;
    this.#tokens = limit.burst;
    this.#updated = now();
  }

  /** Takes a token and returns how long to wait before using it (0: at once). Tokens may go negative: waiters queue. */
  reserve(): number {
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.#limit.per_second) * 1000);
  }

  /** The hub said no until `afterMs` from now: nothing goes before then. */
  pause(afterMs: number): void {
    this.#refill();
    this.#tokens = Math.min(this.#tokens, -(afterMs / 1000) * this.#limit.per_second);
  }

  /** Tokens available now (negative: reserved ahead). */
  get available(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#updated) / 1000;
    this.#updated = now;
    this.#tokens = Math.min(this.#limit.burst, this.#tokens + elapsed * this.#limit.per_second);
  }
}
