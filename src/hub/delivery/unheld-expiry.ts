import type { Logger } from '../../log/logger.ts';
import type { HubClock } from '../core/options.ts';
import type { ExpiredWork, UnheldWork } from './unheld-work.ts';

/** How long the lease runs without renewal, and how often each node renews it or tries to take it (the hub's clock). */
export const EXPIRY_LEASE_TTL_MS = 15_000;
export const EXPIRY_LEASE_RENEW_MS = 5_000;
/** The shortest time between two sweeps: work enqueued close together expires together. */
const MIN_SWEEP_MS = 1_000;

export interface UnheldExpiryParts {
  work: UnheldWork;
  node: string;
  clock: HubClock;
  logger: Logger;
  /** `delivery.resumeWindowMs`: work waits this long for its device. */
  resumeWindowMs: number;
  /** Told of each piece of work taken out (delivery ends it, and tells the other nodes). */
  expired(work: ExpiredWork): void;
}

/**
 * Expires the waiting work of devices no hub node holds, at the end of its resume window
 * (docs/scaling.md, "Several nodes"): a node holding a device expires its queue itself, but a
 * device connected nowhere has no such node. Every node tries for a lease in the store every
 * {@link EXPIRY_LEASE_RENEW_MS}; the one that has it sweeps when the oldest work it saw waiting
 * reaches the end of its window (and at least once a window, for work queued since), at most
 * once a second. A node that dies stops renewing: another takes the lease when it runs out
 * ({@link EXPIRY_LEASE_TTL_MS}); one that closes lets it go. All on the hub's clock.
 *
 * @example
 * const expiry = new UnheldExpiry({ work, node: 'eu-1', clock, logger, resumeWindowMs: 600_000, expired: (w) => delivery.expiredUnheld(w) });
 * expiry.start(); // after listen() opened the engine
 */
export class UnheldExpiry {
  readonly #parts: UnheldExpiryParts;
  #timer: unknown;
  #running = false;
  #stopped = false;
  #holder = false;
  /** When the next sweep is due (the hub's clock); 0: at once, once the lease is this node's. */
  #sweepAt = 0;

  constructor(parts: UnheldExpiryParts) {
    this.#parts = parts;
  }

  /** Tries for the lease now, and from then on every renewal. */
  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    void this.#tick();
  }

  /** Stops the timer; `release` lets the lease go (a node that closes, not one that crashes). */
  async stop(release: boolean): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#parts.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    // Never started (listen() failed): no lease, and maybe no store to ask. Else, unasked whether this
    // node has it (a renewal may be on its way): the store lets go only this node's.
    if (!release || !this.#running) return;
    this.#holder = false;
    await this.#parts.work
      .release(this.#parts.node)
      .catch((error: unknown) => this.#parts.logger.warn({ err: error }, 'cannot let the expiry lease go'));
  }

  async #tick(): Promise<void> {
    const { work, node, clock, logger, resumeWindowMs } = this.#parts;
    try {
      const wasHolder = this.#holder;
      this.#holder = await work.lease(node, clock.now(), EXPIRY_LEASE_TTL_MS);
      if (this.#holder && !wasHolder) this.#sweepAt = 0;
      const now = clock.now();
      if (this.#holder && !this.#stopped && now >= this.#sweepAt) {
        const { expired, oldest } = await work.expire(now - resumeWindowMs);
        // Each on its own: what the sweep took is gone from Redis, so one that fails must not leave the rest unended.
        for (const piece of expired) {
          try {
            this.#parts.expired(piece);
          } catch (error) {
            logger.error({ err: error, ...piece.who, id: piece.entry.id }, 'expired work could not be ended');
          }
        }
        // Work queued after this sweep waits at least a window: one sweep a window finds it in time.
        const due = Math.min(oldest === undefined ? Infinity : oldest + resumeWindowMs + 1, now + resumeWindowMs);
        this.#sweepAt = Math.max(due, now + MIN_SWEEP_MS);
      }
    } catch (error) {
      logger.warn({ err: error }, 'cannot expire the work of devices no hub node holds; trying again');
    }
    if (this.#stopped) return;
    const now = clock.now();
    const next = this.#holder ? Math.min(now + EXPIRY_LEASE_RENEW_MS, Math.max(this.#sweepAt, now)) : now + EXPIRY_LEASE_RENEW_MS;
    this.#timer = clock.setTimeout(() => void this.#tick(), Math.max(0, next - now));
  }
}
