import type { Redis } from 'ioredis';
import type { MessageOf } from '../../../protocol/index.ts';
import { getOrCreate } from '../../../util/get-or-create.ts';
import { type UsageEntry, type UsageStore, type UsageSummary, usageEntryOf } from '../../usage/usage-store.ts';
import { summarize } from '../../usage/usage-summary.ts';
import type { RedisKeys } from './redis-keys.ts';

/**
 * The usage ledger in Redis: each report booked once per (tenant, report id) by one `HSETNX`
 * (whichever hub asks first), answered once Redis has it, so a report is acknowledged to the
 * device only once it is booked; a copy resent to another node is refused there the same way.
 * The set of tenants is written once per tenant and process. Summaries read this process's copy,
 * loaded on open (in booking time order) and kept with every booking: this node's, and the other
 * nodes' from the note each sends once Redis booked an entry (`booked`).
 *
 * @example
 * const ledger = await RedisUsageLedger.open(client, keys);
 * await ledger.book({ tenant_id: 'acme', device_id: 'laptop-1' }, report, Date.now()); // true, then false for a copy
 */
export class RedisUsageLedger implements UsageStore {
  readonly #byTenant = new Map<string, Map<string, UsageEntry>>();
  readonly #keys: RedisKeys;
  readonly #client: Redis;
  /** Tenants named in the set of tenants by this process (or read from it). */
  readonly #listed = new Set<string>();
  readonly #booked: (entry: UsageEntry) => void;

  private constructor(client: Redis, keys: RedisKeys, booked: (entry: UsageEntry) => void) {
    this.#keys = keys;
    this.#client = client;
    this.#booked = booked;
  }

  /** Reads back every tenant's reports, in booking time order; `booked` is told of each entry this node books. */
  static async open(client: Redis, keys: RedisKeys, booked: (entry: UsageEntry) => void = () => {}): Promise<RedisUsageLedger> {
    const ledger = new RedisUsageLedger(client, keys, booked);
    for (const tenantId of await client.smembers(keys.usageTenants)) {
      ledger.#listed.add(tenantId);
      const entries = Object.values(await client.hgetall(keys.usage(tenantId).entries)).map((text) => JSON.parse(text) as UsageEntry);
      entries.sort((a, b) => a.booked_at - b.booked_at || (a.report_id < b.report_id ? -1 : a.report_id > b.report_id ? 1 : 0));
      const booked = getOrCreate(ledger.#byTenant, tenantId, () => new Map<string, UsageEntry>());
      for (const entry of entries) booked.set(entry.report_id, entry);
    }
    return ledger;
  }

  async book(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): Promise<boolean> {
    const booked = getOrCreate(this.#byTenant, where.tenant_id, () => new Map<string, UsageEntry>());
    const entry = usageEntryOf(where, report, now);
    if (booked.has(entry.report_id)) return false;
    // Held before the write, so a copy arriving meanwhile is not booked twice.
    booked.set(entry.report_id, entry);
    const { entries } = this.#keys.usage(where.tenant_id);
    let added: unknown;
    try {
      // Pipelined with the booking: a tenant is listed before (or with) its first entry.
      if (!this.#listed.has(where.tenant_id)) {
        this.#listed.add(where.tenant_id);
        void this.#client.sadd(this.#keys.usageTenants, where.tenant_id).catch(() => this.#listed.delete(where.tenant_id));
      }
      added = await this.#client.hsetnx(entries, entry.report_id, JSON.stringify(entry));
    } catch (error) {
      booked.delete(entry.report_id);
      throw error;
    }
    // Booked by another hub first: that entry is the one kept (its note brings it here).
    if (added !== 1) booked.delete(entry.report_id);
    else this.#booked(entry);
    return added === 1;
  }

  adopt(entry: UsageEntry): void {
    const booked = getOrCreate(this.#byTenant, entry.tenant_id, () => new Map<string, UsageEntry>());
    if (!booked.has(entry.report_id)) booked.set(entry.report_id, entry);
  }

  summary(tenantId: string): UsageSummary {
    return summarize(tenantId, [...(this.#byTenant.get(tenantId)?.values() ?? [])]);
  }

  async close(): Promise<void> {}
}
