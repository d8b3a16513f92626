import type { UsageEntry, UsageSummary } from './usage-store.ts';

/** A tenant's reports (oldest first, copied) and their totals: what every usage store answers. */
export function summarize(tenantId: string, reports: UsageEntry[]): UsageSummary {
  const totals = { reports: reports.length, duration_ms: 0, input_tokens: 0, output_tokens: 0, cost_estimate: 0 };
  for (const { metrics } of reports) {
    totals.duration_ms += metrics.duration_ms;
    totals.input_tokens += metrics.token_usage?.input ?? 0;
    totals.output_tokens += metrics.token_usage?.output ?? 0;
    totals.cost_estimate += metrics.cost_estimate ?? 0;
  }
  return { tenant_id: tenantId, totals, reports: structuredClone(reports) };
}
