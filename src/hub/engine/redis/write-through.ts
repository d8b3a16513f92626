import type { Redis } from 'ioredis';
import type { Logger } from '../../../log/logger.ts';

/**
 * Writes issued in order on one Redis connection, which answers them in order: the last one
 * settling means every one before it has. A failed write is logged and kept, so whoever waits
 * for the writes (a send, `close()`) learns of it.
 *
 * @example
 * const writes = new WriteThrough(logger, 'device queue');
 * writes.issue(client.hset(key, field, value));
 * await writes.settled();
 */
export class WriteThrough {
  #last: Promise<void> | undefined;
  #failure: unknown;
  readonly #log: Logger;
  readonly #what: string;

  constructor(logger: Logger, what: string) {
    this.#log = logger;
    this.#what = what;
  }

  /** Changes made before the connection: issued, in order, once it is there ({@link WriteThrough.connected}). */
  #deferred: Array<(client: Redis) => Promise<unknown>> | undefined = [];
  #client: Redis | undefined;

  /** Issues a write now, or once connected when the connection is not there yet. */
  run(write: (client: Redis) => Promise<unknown>): void {
    if (this.#client) this.issue(write(this.#client));
    else this.#deferred?.push(write);
  }

  /** The connection is there: what waited for it is issued now. */
  connected(client: Redis): void {
    this.#client = client;
    const deferred = this.#deferred ?? [];
    this.#deferred = undefined;
    for (const write of deferred) this.issue(write(client));
  }

  issue(write: Promise<unknown>): void {
    const settled: Promise<void> = write.then(
      () => {
        if (this.#last === settled) this.#last = undefined;
      },
      (error: unknown) => {
        if (this.#last === settled) this.#last = undefined;
        this.#failure ??= error;
        this.#log.error({ err: error }, `cannot write the ${this.#what} to Redis`);
      },
    );
    this.#last = settled;
  }

  /** Resolves once every write so far is stored, rejects if one failed; undefined when none is pending and none failed. */
  settled(): Promise<void> | undefined {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const last = this.#last;
    return last?.then(() => {
      if (this.#failure !== undefined) throw this.#failure;
    });
  }
}
