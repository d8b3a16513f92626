import { ApiKeyStore } from '../api/api-keys.ts';
import { RevocationList } from '../auth/revocations.ts';
import { MemorySigningKeys, type MemorySigningKeysOptions, type SigningKeys } from '../auth/signing-keys.ts';
import { MemoryDeviceQueues } from '../delivery/device-queues.ts';
import type { SettingsDocuments } from '../settings/settings-documents.ts';
import { SettingsStore } from '../settings/settings-store.ts';
import { UsageLedger } from '../usage/usage-ledger.ts';
import type { UsageStore } from '../usage/usage-store.ts';
import { type AttemptStore, MemoryAttemptStore } from '../throttle/attempt-store.ts';
import { type RateBuckets, RateLimiter } from '../api/api-rate-limit.ts';
import type { RateLimit } from '../../api/contract.ts';
import { ShareStore } from '../api/shares.ts';
import { MemoryLoginStore } from '../auth/login-store.ts';
import { TelemetryStore } from '../api/telemetry-store.ts';
import { getOrCreate } from '../../util/get-or-create.ts';
import type { HubEngine } from './hub-engine.ts';

/** Options of {@link MemoryEngine}: the files two of its stores may keep (`HubOptions`). */
export interface MemoryEngineOptions {
  defaultCredit: number;
  /** The usage ledger's record log; in memory without one. */
  usageLedgerPath?: string | undefined;
  /** The settings documents' JSON file; in memory without one. */
  settingsPath?: string | undefined;
}

/**
 * The default engine: everything in this process's memory, as the hub always kept it (the usage
 * ledger and the settings documents optionally in a file). A restart starts a new delivery epoch
 * (devices get `resume.status: reset`) and new signing keys (tokens issued before are refused).
 *
 * @example
 * const engine = new MemoryEngine({ defaultCredit: 16, usageLedgerPath: '/var/lib/hub/usage.log' });
 */
export class MemoryEngine implements HubEngine {
  readonly kind = 'memory';
  readonly deviceQueues: MemoryDeviceQueues;
  readonly apiKeys = new ApiKeyStore();
  readonly #options: MemoryEngineOptions;

  constructor(options: MemoryEngineOptions) {
    this.#options = options;
    this.deviceQueues = new MemoryDeviceQueues(options.defaultCredit);
  }

  revocations(now: () => number, forgetAfterMs: number): RevocationList {
    return new RevocationList(now, forgetAfterMs);
  }

  signingKeys(options: MemorySigningKeysOptions): SigningKeys {
    return new MemorySigningKeys(options);
  }

  openUsage(): Promise<UsageStore> {
    return UsageLedger.open(this.#options.usageLedgerPath);
  }

  openSettings(): Promise<SettingsDocuments> {
    return SettingsStore.open(this.#options.settingsPath);
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {}

  // State asked while the hub serves: this process's own.
  readonly #attempts = new Map<string, MemoryAttemptStore>();

  attemptStore(name: 'failures' | 'familiar', maxRecords: number): AttemptStore {
    return getOrCreate(this.#attempts, name, () => new MemoryAttemptStore(maxRecords));
  }

  readonly #rateBuckets = new Map<string, RateLimiter>();

  readonly shares = new ShareStore();
  readonly logins = new MemoryLoginStore();
  readonly telemetry = new TelemetryStore();
  readonly channelDedupe = undefined;
  readonly channelHistory = undefined;

  rateBuckets(limit: RateLimit, now: () => number): RateBuckets {
    return getOrCreate(this.#rateBuckets, `${limit.burst}/${limit.per_second}`, () => new RateLimiter(limit, now));
  }
}
