import { z } from 'zod';
import { type ApiKeyInfo, type ApiKeyWithSecret, CreateApiKey, type TelemetryEvent } from '../../api/contract.ts';
import type { Logger } from '../../log/logger.ts';
import { HubError } from '../core/errors.ts';
import type { HubClock } from '../core/options.ts';
import { ApiKeyStore, MAX_LIVE_KEYS_PER_TENANT } from './api-keys.ts';
import type { RateBuckets } from './api-rate-limit.ts';
import { ShareStore, type Shares } from './shares.ts';
import { type TelemetryLog, TelemetryStore, type TenantTelemetry } from './telemetry-store.ts';

/**
 * The state behind the hub's REST API (`hub.api`, docs/api.md): API keys, share links and
 * telemetry of each tenant, kept by the hub engine (this process's memory, or Redis shared by
 * every hub node). The routes call these methods, so an operator's call and
 * a request do (and log) the same; logs name key ids, never secrets.
 */
export class HubApi {
  /** The API keys as held: hashes of secrets, never secrets. */
  readonly keys: ApiKeyStore;
  /** Share links (`POST /v1/shares`). */
  readonly shares: Shares;
  readonly #telemetry: TelemetryLog;
  readonly #clock: HubClock;
  readonly #log: Logger;
  /** The requests' token buckets (the hub engine's); the routes make their own in memory without. */
  readonly rateBuckets: RateBuckets | undefined;

  /** `keys`, `stores`: where API keys and the rest are kept (the hub engine's). Default: this process's memory. */
  constructor(
    clock: HubClock,
    logger: Logger,
    keys: ApiKeyStore = new ApiKeyStore(),
    stores: { rateBuckets?: RateBuckets; shares?: Shares; telemetry?: TelemetryLog } = {},
  ) {
    this.keys = keys;
    this.#telemetry = stores.telemetry ?? new TelemetryStore();
    this.shares = stores.shares ?? new ShareStore();
    this.rateBuckets = stores.rateBuckets;
    this.#clock = clock;
    this.#log = logger;
  }

  /**
   * Makes an API key of a tenant with some permissions, as `POST /v1/api-keys` does. The answer
   * is the only place its secret (`ctk_<id>_<secret>`) ever appears: the hub keeps a hash.
   *
   * @throws {HubError} `invalid_request` (the request fails `CreateApiKey`) or `limit_reached` (1 000 live keys).
   * @example
   * const { id, secret } = hub.api.createApiKey('acme', { name: 'ci', permissions: ['usage:read', 'telemetry:write'] });
   * await fetch(`${base}/v1/usage`, { headers: { authorization: `Bearer ${secret}` } });
   */
  createApiKey(tenantId: string, request: CreateApiKey): ApiKeyWithSecret {
    const parsed = CreateApiKey.safeParse(request);
    if (!parsed.success) throw new HubError('invalid_request', z.prettifyError(parsed.error));
    const created = this.keys.create(tenantId, parsed.data, this.#clock.now());
    if (!created) throw new HubError('limit_reached', `tenant '${tenantId}' holds ${MAX_LIVE_KEYS_PER_TENANT} live API keys`);
    this.#log.info({ tenant_id: tenantId, api_key_id: created.id, permissions: created.permissions }, 'api key created');
    return created;
  }

  /**
   * A tenant's API keys, revoked ones too (for 30 days), never their secrets.
   *
   * @example
   * hub.api.apiKeys('acme'); // [{ id: '3f9a…', name: 'ci', permissions: ['usage:read'], revoked_at: null, use_count: 12, … }]
   */
  apiKeys(tenantId: string): ApiKeyInfo[] {
    return this.keys.list(tenantId, this.#clock.now());
  }

  /**
   * Revokes a tenant's API key: refused from the next request on. False for an unknown key or
   * another tenant's.
   *
   * @example
   * hub.api.revokeApiKey('acme', '3f9a0c1d2e4b5a69'); // true
   */
  revokeApiKey(tenantId: string, id: string): boolean {
    const revoked = this.keys.revoke(tenantId, id, this.#clock.now());
    if (revoked) this.#log.info({ tenant_id: tenantId, api_key_id: id }, 'api key revoked');
    return revoked;
  }

  /**
   * Gives a tenant's API key a new secret: the old one is refused from the next request on.
   *
   * @throws {HubError} `unknown_api_key` (unknown, or another tenant's) or `api_key_revoked` (revoked or expired).
   * @example
   * const { secret } = hub.api.rotateApiKey('acme', '3f9a0c1d2e4b5a69');
   */
  rotateApiKey(tenantId: string, id: string): ApiKeyWithSecret {
    const rotated = this.keys.rotate(tenantId, id, this.#clock.now());
    if (rotated === 'not_found') throw new HubError('unknown_api_key', `no API key '${id}' in tenant '${tenantId}'`);
    if (rotated === 'revoked' || rotated === 'expired') throw new HubError('api_key_revoked', `API key '${id}' is ${rotated}`);
    this.#log.info({ tenant_id: tenantId, api_key_id: id }, 'api key rotated');
    return rotated;
  }

  /**
   * Stores a batch of telemetry events for a tenant, as `POST /v1/telemetry` does: events whose
   * id was seen recently are counted as duplicates and not stored again. Resolves once stored
   * (on the Redis engine: readable through every hub node).
   *
   * @example
   * await hub.api.ingestTelemetry('acme', [{ id: 'evt_1', event: 'connection.state_changed', timestamp: Date.now(), properties: { to: 'connected' } }]);
   * // { accepted: 1, duplicates: 0 }
   */
  ingestTelemetry(
    tenantId: string,
    batch: TelemetryEvent[],
    from: { device_id?: string; api_key_id?: string } = {},
  ): Promise<{ accepted: number; duplicates: number }> {
    return this.#telemetry.ingest(tenantId, batch, { received_at: this.#clock.now(), ...from });
  }

  /**
   * A tenant's telemetry: the last 10 000 events (at most 16 MiB of them), oldest first, and how
   * many older ones were evicted. On the Redis engine, what devices reported through any hub node
   * (docs/scaling.md).
   *
   * @example
   * const { events, dropped } = await hub.api.telemetry('acme');
   * events[0]; // { id: 'evt_1', event: 'connection.state_changed', timestamp, properties: { to: 'connected' }, received_at, device_id: 'laptop-1' }
   */
  telemetry(tenantId: string): Promise<TenantTelemetry> {
    return this.#telemetry.of(tenantId);
  }
}
