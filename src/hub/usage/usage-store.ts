import type { MessageOf } from '../../protocol/index.ts';

/** One booked usage report. */
export interface UsageEntry {
  tenant_id: string;
  device_id: string;
  report_id: string;
  request_id: string;
  metrics: MessageOf<'usage_report'>['metrics'];
  booked_at: number;
}

/** What a report is booked under, once per tenant: its `report_id`, else its frame id. */
export function reportIdOf(report: MessageOf<'usage_report'>): string {
  return report.report_id ?? report.id;
}

/** The entry `report` books for the device `where`, at `now`; keyed by {@link reportIdOf}. */
export function usageEntryOf(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): UsageEntry {
  return {
    tenant_id: where.tenant_id,
    device_id: where.device_id,
    report_id: reportIdOf(report),
    request_id: report.request_id,
    metrics: report.metrics,
    booked_at: now,
  };
}

/** What `GET /v1/usage?tenant=…` answers. */
export interface UsageSummary {
  tenant_id: string;
  totals: { reports: number; duration_ms: number; input_tokens: number; output_tokens: number; cost_estimate: number };
  reports: UsageEntry[];
}

/**
 * Where the hub books usage reports and reads them back: what delivery and `hub.usage` need of
 * the usage ledger, so the ledger's engine (today `UsageLedger` in usage-ledger.ts, a record log in
 * memory or on disk) can change without them.
 */
export interface UsageStore {
  /**
   * Books a report once per (tenant, report id). Resolves true when it is new and durable, false
   * when it was booked already; rejects when it cannot be written (it is then not booked).
   */
  book(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): Promise<boolean>;
  /**
   * {@link book} at once, for a store that needs no I/O to book (a ledger in memory): true or
   * false as `book` would resolve. Undefined when the report must be written first: the caller
   * then uses `book`. Saves a device's frames from waiting in a promise chain behind every
   * usage report (bench/round-trip).
   */
  bookAtOnce?(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): boolean | undefined;
  /** A tenant's reports, oldest first, and their totals. */
  summary(tenantId: string): UsageSummary;
  /**
   * Takes an entry another hub node booked in the shared store (its note), so this node's
   * summaries count it too; a report id held already is kept. Only a store shared by nodes has it.
   */
  adopt?(entry: UsageEntry): void;
  close(): Promise<void>;
}
