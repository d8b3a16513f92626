import type { Redis } from 'ioredis';
import { HubError } from '../../core/errors.ts';
import { defineScript, type RedisScript } from './redis-client.ts';

/**
 * The engine's connection for stores that are asked only while the hub serves (the throttle, the
 * REST API's buckets, …): they are made with the hub, before `listen()` connects, and wait for
 * the connection here. Each script is defined once on it.
 *
 * @example
 * const connection = new RedisConnection();
 * const fail = connection.script('ctAttemptFail', FAIL_LUA);
 * connection.connected(client); // in open()
 * await fail([key], [now]);
 */
export class RedisConnection {
  #client: Redis | undefined;
  #closed = false;
  readonly #waiting: Array<{ resolve: (client: Redis) => void; reject: (error: unknown) => void }> = [];

  /** The connection, once the engine opened it. */
  ready(): Promise<Redis> {
    if (this.#client) return Promise.resolve(this.#client);
    if (this.#closed) return Promise.reject(new HubError('invalid_state', 'the Redis engine is closed'));
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** The engine connected: whoever waited gets the connection. */
  connected(client: Redis): void {
    this.#client = client;
    for (const { resolve } of this.#waiting.splice(0)) resolve(client);
  }

  /** The engine closed: whoever still waits is refused. */
  closed(): void {
    this.#closed = true;
    const error = new HubError('invalid_state', 'the Redis engine is closed');
    for (const { reject } of this.#waiting.splice(0)) reject(error);
  }

  /** Scripts issued and not answered yet: `close()` waits for them. */
  readonly #pending = new Set<Promise<unknown>>();

  /** A script run on the connection once there is one (defined on it at the first call). */
  script(name: string, lua: string): RedisScript {
    let defined: { client: Redis; run: RedisScript } | undefined;
    const run = async (keys: readonly string[], args: ReadonlyArray<string | number>) => {
      const client = await this.ready();
      if (defined?.client !== client) defined = { client, run: defineScript(client, name, lua) };
      return defined.run(keys, args);
    };
    return (keys, args) => {
      const running = run(keys, args);
      const tracked = running.finally(() => this.#pending.delete(tracked)).catch(() => undefined);
      this.#pending.add(tracked);
      return running;
    };
  }

  /** Resolves once every script issued so far is answered (whatever the answer). */
  async settled(): Promise<void> {
    await Promise.all([...this.#pending]);
  }
}
