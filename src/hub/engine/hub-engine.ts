import type { ApiKeyStore } from '../api/api-keys.ts';
import type { RevocationList } from '../auth/revocations.ts';
import type { MemorySigningKeysOptions, SigningKeys } from '../auth/signing-keys.ts';
import type { DeviceQueues } from '../delivery/device-queues.ts';
import type { SettingsDocuments } from '../settings/settings-documents.ts';
import type { UsageStore } from '../usage/usage-store.ts';
import type { HubCluster } from './cluster.ts';
import type { AttemptStore } from '../throttle/attempt-store.ts';
import type { RateBuckets } from '../api/api-rate-limit.ts';
import type { RateLimit } from '../../api/contract.ts';
import type { Shares } from '../api/shares.ts';
import type { DedupeJournal } from '../channels/dedupe-journal.ts';
import type { ChannelHistory } from '../channels/channel-history.ts';
import type { LoginStore } from '../auth/login-store.ts';
import type { TelemetryLog } from '../api/telemetry-store.ts';
import type { UnheldWork } from '../delivery/unheld-work.ts';

/**
 * Where a hub keeps the state that can outlive its process: the stores behind the interfaces each
 * folder owns, bundled so a hub is made on one engine. The memory engine (memory-engine.ts) keeps
 * them in this process, as a hub always did; the Redis engine (redis/redis-engine.ts) keeps them in
 * Redis, so a hub restarted on the same Redis resumes its devices, verifies the tokens it issued
 * and books no report twice (docs/scaling.md).
 *
 * Stores are handed out when the hub is made (its parts are built then) and hold what the engine
 * read back once {@link HubEngine.open} resolved, which `listen()` awaits before the first device
 * can reach them. The hot paths stay in this process's memory; a durable engine writes each change
 * through, atomically, and a device is sent nothing before the change that numbered it is stored.
 */
export interface HubEngine {
  /** What the engine is, for logs and docs: `memory` or `redis`. */
  readonly kind: string;
  /** The per-device queues of reliable delivery, with their sequence numbers and delivery epoch. */
  readonly deviceQueues: DeviceQueues;
  /** The REST API's keys. */
  readonly apiKeys: ApiKeyStore;
  /** Revoked devices and token ids; `forgetAfterMs` is how long a revoked token id matters. */
  revocations(now: () => number, forgetAfterMs: number): RevocationList;
  /** The token authority's signing keys (only made when the hub issues tokens). */
  signingKeys(options: MemorySigningKeysOptions): SigningKeys;
  /** Opens the usage ledger (books each report once per tenant and report id). */
  openUsage(): Promise<UsageStore>;
  /** Opens the settings documents (versions, idempotency keys, the epoch). */
  openSettings(): Promise<SettingsDocuments>;
  /** Connects and reads back what the engine keeps; once, before `openUsage` and `openSettings`. */
  open(): Promise<void>;
  /** Waits for every change written through, then lets go of the engine's connections. */
  close(): Promise<void>;

  // Several nodes on one store (docs/scaling.md, "Several nodes").
  /** Presence, the queues of devices held elsewhere, and notes between nodes; none on a single-node engine. */
  readonly cluster?: HubCluster | undefined;
  /** The waiting work of devices no node holds, which one node at a time expires; none on a single-node engine. */
  readonly unheldWork?: UnheldWork | undefined;
  /** Drops the engine's connections at once, nothing flushed, as a node that dies would (`hub.faults.crash`). */
  crash?(): void;

  // State asked while the hub serves, shared by every hub node on a durable engine (docs/scaling.md).
  /**
   * Where the failure throttle counts failed credentials (`failures`) and remembers where
   * credentials succeeded (`familiar`); the memory engine holds at most `maxRecords` in each.
   */
  attemptStore(name: 'failures' | 'familiar', maxRecords: number): AttemptStore;
  /** The REST API's token buckets (`HubOptions.apiRateLimit`): one budget per credential, whichever node answers. */
  rateBuckets(limit: RateLimit, now: () => number): RateBuckets;
  /** Pending device logins and refresh-token families: a login started on one node is approved and redeemed on any. */
  readonly logins: LoginStore;
  /** Telemetry (`POST /v1/telemetry`, `hub.api.telemetry`): reported through one node, read through every node. */
  readonly telemetry: TelemetryLog;
  /** Share links (`POST /v1/shares`): a link made through one node opens through every node. */
  readonly shares: Shares;
  /** The reliable channel messages' dedupe windows beyond this process; undefined: the process's own. */
  readonly channelDedupe: DedupeJournal | undefined;
  /** The channels' offsets and replay windows beyond this process, with their epochs; undefined: the process's own. */
  readonly channelHistory: ChannelHistory | undefined;
}
