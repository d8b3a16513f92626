import type { Redis } from 'ioredis';
import type { MessageOf } from '../../../protocol/index.ts';
import { getOrCreate } from '../../../util/get-or-create.ts';
import { type UsageEntry, type UsageStore, type UsageSummary, usageEntryOf } from '../../usage/usage-store.ts';
import { summarize } from '../../usage/usage-summary.ts';
import { defineScript, type RedisScript } from './redis-client.ts';
import type { RedisKeys } from './redis-keys.ts';

// KEYS entries order tenants; ARGV reportId entry tenant. Booked once: the report id decides, in one step.
const BOOK = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
return 1`;

/**
 * The usage ledger in Redis: each report booked once per (tenant, report id) by one script
 * (`HSETNX` decides, whichever hub asks first), answered once Redis has it, so a report is
 * acknowledged to the device only once it is booked. Summaries read this process's copy,
 * loaded on open and kept with every booking: this node's, and the other nodes' from the note
 * each sends once Redis booked an entry (`booked`).
 *
 * @example
 * const ledger = await RedisUsageLedger.open(client, keys);
 * await ledger.book({ tenant_id: 'acme', device_id: 'laptop-1' }, report, Date.now()); // true, then false for a copy
 */
export class RedisUsageLedger implements UsageStore {
  readonly #byTenant = new Map<string, Map<string, UsageEntry>>();
  readonly #keys: RedisKeys;
  readonly #book: RedisScript;

  readonly #booked: (entry: UsageEntry) => void;

  private constructor(client: Redis, keys: RedisKeys, booked: (entry: UsageEntry) => void) {
    this.#keys = keys;
    this.#book = defineScript(client, 'ctUsageBook', BOOK);
    this.#booked = booked;
  }

  /** Reads back every tenant's reports, in booking order; `booked` is told of each entry this node books. */
  static async open(client: Redis, keys: RedisKeys, booked: (entry: UsageEntry) => void = () => {}): Promise<RedisUsageLedger> {
    const ledger = new RedisUsageLedger(client, keys, booked);
    for (const tenantId of await client.smembers(keys.usageTenants)) {
      const { entries, order } = keys.usage(tenantId);
      const [byId, ids] = await Promise.all([client.hgetall(entries), client.lrange(order, 0, -1)]);
      const booked = getOrCreate(ledger.#byTenant, tenantId, () => new Map<string, UsageEntry>());
      for (const id of ids) if (byId[id] !== undefined) booked.set(id, JSON.parse(byId[id]) as UsageEntry);
    }
    return ledger;
  }

  async book(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): Promise<boolean> {
    const booked = getOrCreate(this.#byTenant, where.tenant_id, () => new Map<string, UsageEntry>());
    const entry = usageEntryOf(where, report, now);
    if (booked.has(entry.report_id)) return false;
    // Held before the write, so a copy arriving meanwhile is not booked twice.
    booked.set(entry.report_id, entry);
    const { entries, order } = this.#keys.usage(where.tenant_id);
    let added: unknown;
    try {
      added = await this.#book([entries, order, this.#keys.usageTenants], [entry.report_id, JSON.stringify(entry), where.tenant_id]);
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
