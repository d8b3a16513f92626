import type { TelemetryEvent } from '../../api/contract.ts';
import { getOrCreate } from '../../util/get-or-create.ts';
import { RecentIds } from '../delivery/recent-ids.ts';

/** A telemetry event as the hub keeps it: as sent, plus when and from whom it came. */
export interface StoredTelemetryEvent extends TelemetryEvent {
  /** Hub time of receipt. */
  received_at: number;
  /** The device that sent it, when the credential names one. */
  device_id?: string;
  /** The API key that sent it, when it came with one. */
  api_key_id?: string;
}

/** What `hub.api.telemetry(tenantId)` answers. */
export interface TenantTelemetry {
  /** The events kept, oldest first. */
  events: StoredTelemetryEvent[];
  /** Events evicted to keep within the bounds, since the hub started (on Redis: since the tenant's log was made). */
  dropped: number;
}

/** Bounds of a {@link TelemetryStore}, per tenant. */
export interface TelemetryBounds {
  /** Events kept. Default 10 000. */
  maxEvents: number;
  /** Bytes of JSON kept. Default 16 MiB. */
  maxBytes: number;
  /** Event ids remembered to drop the copies of a retried batch. Default 50 000. */
  dedupeWindow: number;
}

/** The bounds a hub keeps telemetry within, per tenant, unless told otherwise. */
export const DEFAULT_TELEMETRY_BOUNDS: TelemetryBounds = { maxEvents: 10_000, maxBytes: 16 * 1024 * 1024, dedupeWindow: 50_000 };

/**
 * Where telemetry is kept: {@link TelemetryStore} in this process, or a store every hub node
 * shares (the Redis engine's), so events reported through one node are read through any.
 */
export interface TelemetryLog {
  /** Stores a batch for a tenant; copies of events seen before (in this batch too) are counted, not stored. */
  ingest(
    tenantId: string,
    batch: TelemetryEvent[],
    from: Omit<StoredTelemetryEvent, keyof TelemetryEvent>,
  ): Promise<{ accepted: number; duplicates: number }>;
  /** A tenant's events, oldest first, and how many were evicted. */
  of(tenantId: string): Promise<TenantTelemetry>;
}

interface TenantLog {
  events: Array<{ event: StoredTelemetryEvent; bytes: number }>;
  bytes: number;
  dropped: number;
  recent: RecentIds;
}

/**
 * Telemetry events per tenant, in memory, bounded by count and bytes (the oldest go first, and
 * are counted); an event id seen recently is a duplicate and is not stored again.
 *
 * @example
 * const store = new TelemetryStore();
 * await store.ingest('acme', batch, { received_at: Date.now(), device_id: 'laptop-1' }); // { accepted: 2, duplicates: 0 }
 * await store.of('acme'); // { events: [...], dropped: 0 }
 */
export class TelemetryStore implements TelemetryLog {
  readonly #tenants = new Map<string, TenantLog>();
  readonly #bounds: TelemetryBounds;

  constructor(bounds: Partial<TelemetryBounds> = {}) {
    this.#bounds = { ...DEFAULT_TELEMETRY_BOUNDS, ...bounds };
  }

  /** Stores a batch for a tenant; copies of events seen before (in this batch too) are counted, not stored. */
  async ingest(
    tenantId: string,
    batch: TelemetryEvent[],
    from: Omit<StoredTelemetryEvent, keyof TelemetryEvent>,
  ): Promise<{ accepted: number; duplicates: number }> {
    const log = getOrCreate(this.#tenants, tenantId, () => ({
      events: [],
      bytes: 0,
      dropped: 0,
      recent: new RecentIds(this.#bounds.dedupeWindow),
    }));
    let accepted = 0;
    for (const event of batch) {
      if (log.recent.has(event.id)) continue;
      log.recent.add(event.id);
      const stored: StoredTelemetryEvent = { ...event, ...from };
      const bytes = Buffer.byteLength(JSON.stringify(stored));
      log.events.push({ event: stored, bytes });
      log.bytes += bytes;
      accepted += 1;
    }
    // One splice per batch: shifting event by event would be quadratic.
    let evict = 0;
    while (log.events.length - evict > this.#bounds.maxEvents || (log.bytes > this.#bounds.maxBytes && evict < log.events.length)) {
      log.bytes -= log.events[evict]?.bytes ?? 0;
      evict += 1;
    }
    log.events.splice(0, evict);
    log.dropped += evict;
    return { accepted, duplicates: batch.length - accepted };
  }

  /** A tenant's events and how many were evicted. */
  async of(tenantId: string): Promise<TenantTelemetry> {
    const log = this.#tenants.get(tenantId);
    return { events: structuredClone(log?.events.map(({ event }) => event) ?? []), dropped: log?.dropped ?? 0 };
  }
}
