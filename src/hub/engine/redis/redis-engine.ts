import type { Redis } from 'ioredis';
import type { Logger } from '../../../log/logger.ts';
import { ApiKeyStore, type StoredApiKey } from '../../api/api-keys.ts';
import { RevocationList, type RevocationState } from '../../auth/revocations.ts';
import type { MemorySigningKeysOptions, SigningKeys } from '../../auth/signing-keys.ts';
import { HubError } from '../../core/errors.ts';
import type { SettingsDocuments } from '../../settings/settings-documents.ts';
import { SettingsStore } from '../../settings/settings-store.ts';
import type { UsageStore } from '../../usage/usage-store.ts';
import type { HubEngine } from '../hub-engine.ts';
import { checkRedisUrl, connectRedis } from './redis-client.ts';
import { RedisDeviceQueues } from './redis-device-queues.ts';
import { RedisCluster } from './redis-cluster.ts';
import { RedisApiKeyJournal, RedisRevocationJournal } from './redis-journals.ts';
import { RedisKeys } from './redis-keys.ts';
import { RedisSettingsBacking } from './redis-settings.ts';
import { RedisSigningKeys } from './redis-signing-keys.ts';
import { RedisUsageLedger } from './redis-usage-ledger.ts';
import { WriteThrough } from './write-through.ts';
import { type AttemptStore, MemoryAttemptStore } from '../../throttle/attempt-store.ts';
import { getOrCreate } from '../../../util/get-or-create.ts';
import { RedisAttemptStore } from './redis-attempt-store.ts';
import { RedisConnection } from './redis-connection.ts';
import type { RateBuckets } from '../../api/api-rate-limit.ts';
import type { RateLimit } from '../../../api/contract.ts';
import { RedisRateBuckets } from './redis-rate-buckets.ts';
import { RedisShares } from './redis-shares.ts';
import type { Shares } from '../../api/shares.ts';
import type { DedupeJournal } from '../../channels/dedupe-journal.ts';
import { RedisDedupeJournal } from './redis-dedupe-journal.ts';
import type { ChannelHistory } from '../../channels/channel-history.ts';
import { RedisChannelHistory } from './redis-channel-history.ts';
import type { LoginStore } from '../../auth/login-store.ts';
import { RedisLogins } from './redis-logins.ts';
import { DEFAULT_TELEMETRY_BOUNDS, type TelemetryLog } from '../../api/telemetry-store.ts';
import { RedisTelemetry } from './redis-telemetry.ts';
import type { UnheldWork } from '../../delivery/unheld-work.ts';
import { RedisUnheldWork } from './redis-unheld-work.ts';

/** Options of {@link RedisEngine}. */
export interface RedisEngineOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…`. */
  url: string;
  /** Put before every key, so one Redis can hold several hubs. Default `cloudtether:`. */
  keyPrefix?: string | undefined;
  defaultCredit: number;
  logger: Logger;
  /** This node's name among the hub nodes on this Redis. Default `node`. */
  nodeId?: string | undefined;
  /** The failed-credential counts in Redis, shared by every node (default); false: in this process. */
  sharedThrottle?: boolean | undefined;
}

/**
 * The hub's durable state in Redis (docs/scaling.md): device queues with their sequence numbers
 * and the delivery epoch, signing keys, revocations, the usage ledger, settings documents and API
 * keys. A hub closed (or killed) and made again on the same Redis resumes its devices, verifies
 * the tokens it issued, and books no report twice. Changes are written through from this
 * process's copy, each one atomic in Redis (a script or a MULTI).
 *
 * @example
 * const hub = createHub({ staticToken, engine: { redis: 'redis://127.0.0.1:6379' } });
 * await hub.listen({ port: 8080 }); // connects, reads everything back
 */
export class RedisEngine implements HubEngine {
  readonly kind = 'redis';
  readonly deviceQueues: RedisDeviceQueues;
  readonly apiKeys: ApiKeyStore;
  readonly #url: string;
  #client: Redis | undefined;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  /** Revocations and API keys: written through as they change, in order. */
  readonly #writes: WriteThrough;
  #revocations: RevocationList | undefined;
  #signingKeys: RedisSigningKeys | undefined;
  #opened = false;
  #closing: Promise<void> | undefined;
  /** For the stores asked while the hub serves: they wait for the connection `open()` makes. */
  readonly #serving = new RedisConnection();

  // Several nodes on one Redis (docs/scaling.md, "Several nodes").
  readonly cluster: RedisCluster;

  /** @throws {HubError} `invalid_options` for a URL that is not a Redis URL. */
  constructor(options: RedisEngineOptions) {
    this.#url = options.url;
    checkRedisUrl(options.url);
    this.#keys = new RedisKeys(options.keyPrefix ?? 'cloudtether:');
    this.#log = options.logger;
    this.#writes = new WriteThrough(options.logger, 'hub state');
    this.#sharedThrottle = options.sharedThrottle ?? true;
    const nodeId = options.nodeId ?? 'node';
    this.deviceQueues = new RedisDeviceQueues(options.defaultCredit, options.logger, nodeId);
    this.cluster = new RedisCluster({ queues: this.deviceQueues, keys: this.#keys, nodeId, writes: this.#writes, logger: options.logger });
    // Other nodes read a key made, rotated or revoked here again on this note (their listings); a presented key is read anyway.
    const notify = (id: string) => this.cluster.broadcast({ t: 'api_key', id });
    this.apiKeys = new ApiKeyStore(new RedisApiKeyJournal(this.#keys, this.#writes, this.#serving, notify));
  }

  revocations(now: () => number, forgetAfterMs: number): RevocationList {
    this.#revocations = new RevocationList(now, forgetAfterMs, new RedisRevocationJournal(this.#keys, this.#writes, now));
    return this.#revocations;
  }

  signingKeys(options: MemorySigningKeysOptions): SigningKeys {
    this.#signingKeys = new RedisSigningKeys(options, this.#log, () => this.cluster.broadcast({ t: 'keys' }));
    const keys = this.#signingKeys;
    this.cluster.onKeys(() =>
      keys.reload().catch((error: unknown) => this.#log.warn({ err: error }, 'cannot read the signing keys again')),
    );
    return this.#signingKeys;
  }

  async openUsage(): Promise<UsageStore> {
    // Every other node's summaries count what this one books (a note per entry, after Redis has it).
    return RedisUsageLedger.open(this.#connected(), this.#keys, (entry) => this.cluster.broadcast({ t: 'usage', entry }));
  }

  async openSettings(): Promise<SettingsDocuments> {
    return SettingsStore.openOn(new RedisSettingsBacking(this.#connected(), this.#keys));
  }

  /**
   * Connects (once; checks the Redis version) and reads back the device queues, the signing keys,
   * the revocations and the API keys.
   *
   * @throws {HubError} `engine_unavailable` when Redis refuses or is too old.
   */
  async open(): Promise<void> {
    if (this.#closing) throw new HubError('invalid_state', 'the Redis engine is closed');
    this.#signingKeys?.opening();
    let revocations: RevocationState;
    let apiKeys: StoredApiKey[];
    let client: Redis;
    try {
      client = await connectRedis(this.#url);
      this.#client = client;
      [revocations, apiKeys] = await Promise.all([
        RedisRevocationJournal.load(client, this.#keys),
        RedisApiKeyJournal.load(client, this.#keys),
        this.deviceQueues.open(client, this.#keys),
        this.#signingKeys?.open(client, this.#keys),
        this.cluster.open(client, this.#url),
      ]);
    } catch (error) {
      this.#signingKeys?.failed(error);
      throw error;
    }
    // What changed here before the connection is newer than what Redis had: restored under it, then written.
    this.#revocations?.restore(revocations);
    this.apiKeys.restore(apiKeys);
    this.#writes.connected(client);
    this.#serving.connected(client);
    this.#opened = true;
    this.#log.info(
      { engine: 'redis', prefix: this.#keys.prefix, node: this.cluster.nodeId, devices: this.deviceQueues.all().length },
      'hub state read back from Redis',
    );
  }

  /** Waits for every write issued, then quits (or drops a connection that is down). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#opened) {
        this.cluster.flush();
        await Promise.allSettled([this.#writes.settled(), this.deviceQueues.settled(), this.#signingKeys?.settled()]);
      }
      // Never connected: what waits for the connection is refused, not waited for.
      if (!this.#opened) this.#serving.closed();
      await this.#serving.settled();
      this.#serving.closed();
      await this.cluster.close();
      const client = this.#client;
      if (client?.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client?.disconnect();
    })();
    return this.#closing;
  }

  /** Drops every connection at once, nothing flushed: what a node that dies leaves behind (tests). */
  crash(): void {
    this.#closing ??= Promise.resolve();
    this.cluster.crash();
    this.#client?.disconnect();
  }

  // State asked while the hub serves, in Redis so every node on it shares it.
  #shares: RedisShares | undefined;
  get shares(): Shares {
    return (this.#shares ??= new RedisShares(this.#serving, this.#keys.shares));
  }

  #logins: RedisLogins | undefined;
  get logins(): LoginStore {
    return (this.#logins ??= new RedisLogins(this.#serving, this.#keys));
  }

  #telemetry: RedisTelemetry | undefined;
  get telemetry(): TelemetryLog {
    return (this.#telemetry ??= new RedisTelemetry(this.#serving, (tenantId) => this.#keys.telemetry(tenantId), DEFAULT_TELEMETRY_BOUNDS));
  }

  #channelDedupe: RedisDedupeJournal | undefined;
  get channelDedupe(): DedupeJournal {
    return (this.#channelDedupe ??= new RedisDedupeJournal(this.#serving, this.#keys.channelDedupe));
  }

  #unheldWork: RedisUnheldWork | undefined;
  get unheldWork(): UnheldWork {
    return (this.#unheldWork ??= new RedisUnheldWork(this.#serving, this.#keys));
  }

  #channelHistory: RedisChannelHistory | undefined;
  get channelHistory(): ChannelHistory {
    return (this.#channelHistory ??= new RedisChannelHistory(this.#serving, this.#keys.channelHistory, {
      broker: this.#keys.channel(undefined),
      node: this.cluster.nodeId,
    }));
  }

  #sharedThrottle = true;
  #attempts = new Map<string, AttemptStore>();

  attemptStore(name: 'failures' | 'familiar', maxRecords: number): AttemptStore {
    if (!this.#sharedThrottle) return getOrCreate(this.#attempts, name, () => new MemoryAttemptStore(maxRecords));
    return new RedisAttemptStore(this.#serving, this.#keys.throttle(name));
  }

  rateBuckets(limit: RateLimit, now: () => number): RateBuckets {
    return new RedisRateBuckets(this.#serving, this.#keys.rateBuckets, limit, now);
  }

  /** The connection, once `listen()` made it. */
  readonly #connected = (): Redis => {
    if (!this.#client) throw new HubError('invalid_state', 'the Redis engine opens with listen()');
    return this.#client;
  };
}
