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
  /** A tenant's reports, oldest first, and their totals. */
  summary(tenantId: string): UsageSummary;
  close(): Promise<void>;
}
