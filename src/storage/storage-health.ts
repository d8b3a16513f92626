import type { RuntimeClock } from '../util/clock.ts';
import { StorageError } from '../adapters/storage.ts';
import type { Logger } from '../log/logger.ts';

/** Whether the connector's store takes writes, as the host sees it in `status.storage`. */
export type StorageStatus =
  | {
      state: 'ok';
      /** `started`, or `recovered` after a failure. */
      reason: 'started' | 'recovered';
    }
  | {
      state: 'failing';
      reason: 'write_failed';
      /** The file that could not be written. */
      path: string;
      /** The system's error code: `ENOSPC`, `EDQUOT`, `EIO`, `EROFS`, … */
      code: string;
      /** When the first failure of this spell was seen (epoch ms). */
      since: number;
      /** Probes that failed since. */
      attempt: number;
      /** Delay before the next probe. */
      retryInMs: number;
    };

export interface StorageBackoff {
  /** Delay before the first probe. Default 200 ms. */
  firstMs: number;
  /** The delay doubles up to this. Default 5 s: space that comes back is noticed within it. */
  capMs: number;
}

export const defaultStorageBackoff: StorageBackoff = { firstMs: 200, capMs: 5_000 };

export interface StorageHealthOptions {
  clock: RuntimeClock;
  logger: Logger;
  /**
   * Resolves when the store takes a write again (`openConnectorStore` writes, syncs and removes
   * a small file beside its logs). Without one, storage counts as back after each delay, and
   * the operations that failed find out by trying again.
   */
  probe?: () => Promise<void>;
  backoff?: Partial<StorageBackoff>;
  /** Each change of {@link StorageHealth.status}. */
  onChange?: (status: StorageStatus) => void;
}

/**
 * Tracks whether the connector's store takes writes. A store that fails (a full disk, a lost
 * mount) is not an error to crash on but a state: it is reported, probed with backoff until it
 * works again, and what must be stored waits for that ({@link retry}) instead of being lost.
 *
 * @example
 * const health = new StorageHealth({ clock, logger, probe: store.probe });
 * await health.retry(() => journal.settle(seq)); // waits out a full disk, then settles
 */
export class StorageHealth {
  readonly #o: StorageHealthOptions;
  readonly #backoff: StorageBackoff;
  #status: StorageStatus = { state: 'ok', reason: 'started' };
  #waiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  #timer: unknown;
  #stopped = false;

  constructor(options: StorageHealthOptions) {
    this.#o = options;
    this.#backoff = { ...defaultStorageBackoff, ...options.backoff };
  }

  get status(): StorageStatus {
    return this.#status;
  }

  get failing(): boolean {
    return this.#status.state === 'failing';
  }

  /** A storage operation failed with `error`: storage is failing until a probe says otherwise. */
  failed(error: unknown): void {
    if (this.#stopped) return;
    if (this.#status.state === 'failing') return;
    const { path, code } = describe(error);
    this.#o.logger.error({ path, code }, 'storage is failing; work that needs it waits or is refused until it recovers');
    this.#change({
      state: 'failing',
      reason: 'write_failed',
      path,
      code,
      since: this.#o.clock.now(),
      attempt: 0,
      retryInMs: this.#backoff.firstMs,
    });
    this.#schedule();
  }

  /** Resolves when storage takes writes (at once if it does now). Rejects once stopped. */
  recovered(): Promise<void> {
    if (this.#stopped) return Promise.reject(new StorageError('storage', 'the connector stopped while storage was failing'));
    if (!this.failing) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The error that refuses new work while storage fails, naming the path that failed. */
  refusal(what: string): StorageError {
    return new StorageError(this.#status.state === 'failing' ? this.#status.path : 'storage', `storage is failing; ${what} refused`);
  }

  /**
   * Runs a storage operation until it succeeds: a {@link StorageError} marks storage failing and
   * the operation runs again once it recovers. Other errors are the caller's.
   */
  async retry<R>(operation: () => Promise<R>): Promise<R> {
    for (;;) {
      // Healthy (most of the time): the operation at once, not after a turn awaiting nothing.
      if (this.failing || this.#stopped) await this.recovered();
      try {
        return await operation();
      } catch (error) {
        if (!(error instanceof StorageError)) throw error;
        this.failed(error);
      }
    }
  }

  /** Stops probing; whatever waits for recovery is rejected. */
  stop(): void {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#timer);
    const waiters = this.#waiters;
    if (waiters.length > 0)
      this.#o.logger.warn({ waiting: waiters.length }, 'stopped while storage was failing: what waited for it is not stored');
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(new StorageError('storage', 'the connector stopped while storage was failing'));
  }

  #schedule(): void {
    const status = this.#status;
    if (status.state !== 'failing' || this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => void this.#probe(), status.retryInMs);
  }

  async #probe(): Promise<void> {
    try {
      await this.#o.probe?.();
    } catch (error) {
      const status = this.#status;
      if (status.state !== 'failing' || this.#stopped) return;
      const { code } = describe(error);
      this.#change({ ...status, code, attempt: status.attempt + 1, retryInMs: Math.min(this.#backoff.capMs, status.retryInMs * 2) });
      this.#schedule();
      return;
    }
    if (this.#stopped) return;
    this.#o.logger.info({ failed_for_ms: this.#o.clock.now() - (this.#status as { since: number }).since }, 'storage recovered');
    this.#change({ state: 'ok', reason: 'recovered' });
    const waiters = this.#waiters;
    this.#waiters = [];
    // In the order they began waiting: appends to one log keep their order.
    for (const waiter of waiters) waiter.resolve();
  }

  #change(status: StorageStatus): void {
    this.#status = status;
    this.#o.onChange?.(status);
  }
}

/**
 * Runs a storage operation through {@link StorageHealth.retry} when there is a health tracker
 * (it waits out a failing store), or once without one (a failure rejects).
 *
 * @example
 * await untilStored(health, () => journal.settle(seq));
 */
export function untilStored<R>(health: StorageHealth | undefined, operation: () => Promise<R>): Promise<R> {
  return health ? health.retry(operation) : operation();
}

/** The path and error code of a storage failure, for the status and the log (never its data). */
function describe(error: unknown): { path: string; code: string } {
  const cause = error instanceof StorageError ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? (error as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
  return { path: error instanceof StorageError ? error.path : 'storage', code };
}
