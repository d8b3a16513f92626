import type { Redis } from 'ioredis';
import { importOptional } from '../../../util/optional-package.ts';
import { HubError } from '../../core/errors.ts';

/** The oldest Redis the engine runs on: its scripts use `ZRANGE … BYSCORE` (6.2). */
export const MIN_REDIS_VERSION = '6.2.0';

/** A Redis URL with its password replaced, for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Checks a Redis URL: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
 *
 * @throws {HubError} `invalid_options` naming what is wrong (never the password).
 */
export function checkRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HubError('invalid_options', `invalid Redis URL: not a URL; use redis://host:port[/db]`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new HubError('invalid_options', `invalid Redis URL ${redactedUrl(url)}: the scheme must be redis:// or rediss://`);
  }
  if (!parsed.hostname) throw new HubError('invalid_options', `invalid Redis URL ${redactedUrl(url)}: no host`);
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db))
    throw new HubError('invalid_options', `invalid Redis URL ${redactedUrl(url)}: the path must be a database number`);
  return parsed;
}

/** Whether `version` (`major.minor.patch`) is at least `minimum`. */
export function isAtLeast(version: string, minimum: string): boolean {
  const parts = (v: string) => v.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const [a, b] = [parts(version), parts(minimum)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/**
 * Connects to Redis and checks the server's version; ioredis is loaded here, so a hub on the
 * memory engine never loads it. The first connection is
 * tried once (a Redis that refuses fails `listen()` at once, with one line); once connected, the
 * client reconnects with backoff and keeps commands until it is back (`maxRetriesPerRequest:
 * null`), so a short Redis outage delays sends and acknowledgements instead of losing them.
 *
 * @throws {MissingPackageError} when `ioredis` (an optional peer dependency) is not installed.
 * @throws {HubError} `invalid_options` for a URL that is not a Redis URL; `engine_unavailable`
 *   when Redis refuses, or is older than {@link MIN_REDIS_VERSION}.
 */
export async function connectRedis(url: string): Promise<Redis> {
  checkRedisUrl(url);
  const { Redis } = await importOptional(
    'ioredis',
    'a hub keeps its state in Redis through it (`engine: { redis }`, `--redis`)',
    () => import('ioredis'),
  );
  let connected = false;
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => (connected ? Math.min(times * 100, 2_000) : null),
  });
  client.once('ready', () => (connected = true));
  // Errors are answered per command (and by `connect()`, which says only "Connection is closed":
  // the socket's error says why); unhandled, ioredis would print them.
  let socketError: Error | undefined;
  client.on('error', (error: Error) => (socketError ??= error));
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /^redis_version:(\S+)/m.exec(info)?.[1];
    if (version === undefined || !isAtLeast(version, MIN_REDIS_VERSION)) {
      throw new HubError(
        'engine_unavailable',
        `Redis at ${redactedUrl(url)} is ${version ?? 'of an unknown version'}; the hub needs Redis ${MIN_REDIS_VERSION} or newer`,
      );
    }
  } catch (error) {
    client.disconnect();
    if (error instanceof HubError) throw error;
    const cause = connected ? error : (socketError ?? error);
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new HubError('engine_unavailable', `cannot reach Redis at ${redactedUrl(url)}: ${reason}`, { cause: error });
  }
  return client;
}

/** A Lua script run by its SHA (ioredis sends the source once, when Redis does not have it). */
export type RedisScript = (keys: readonly string[], args: ReadonlyArray<string | number>) => Promise<unknown>;

/**
 * Defines a Lua script on a client: one atomic step in Redis (nothing else runs in between).
 *
 * @example
 * const book = defineScript(client, 'ctBook', BOOK_LUA);
 * await book([hashKey], [reportId, json]);
 */
export function defineScript(client: Redis, name: string, lua: string): RedisScript {
  client.defineCommand(name, { lua });
  const command = (client as unknown as Record<string, (...args: Array<string | number>) => Promise<unknown>>)[name];
  if (!command) throw new Error(`ioredis did not define ${name}`);
  return (keys, args) => command.call(client, keys.length, ...keys, ...args);
}
