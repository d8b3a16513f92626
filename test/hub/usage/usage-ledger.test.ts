import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageLedger } from '../../../src/hub/usage/usage-ledger.ts';
import type { MessageOf } from '../../../src/protocol/index.ts';

const where = { tenant_id: 't1', device_id: 'd1' };

function report(requestId: string): MessageOf<'usage_report'> {
  return {
    v: 1,
    id: `m-${requestId}`,
    ts: 0,
    type: 'usage_report',
    report_id: `usage:${requestId}`,
    request_id: requestId,
    executor_device_id: 'd1',
    metrics: { duration_ms: 5 },
  };
}

describe('UsageLedger.bookAtOnce', () => {
  it('books in memory at once, once per report id, as book would', async () => {
    const ledger = await UsageLedger.open(undefined);
    expect(ledger.bookAtOnce(where, report('r1'), 1)).toBe(true);
    expect(ledger.bookAtOnce(where, report('r1'), 2)).toBe(false);
    expect(await ledger.book(where, report('r1'), 3)).toBe(false);
    expect(await ledger.book(where, report('r2'), 4)).toBe(true);
    expect(ledger.bookAtOnce(where, report('r2'), 5)).toBe(false);
    const summary = ledger.summary('t1');
    expect(summary.reports.map((r) => [r.request_id, r.booked_at])).toEqual([
      ['r1', 1],
      ['r2', 4],
    ]);
    expect(summary.totals.duration_ms).toBe(10);
    await ledger.close();
    // Closed: left to `book`, which refuses.
    expect(ledger.bookAtOnce(where, report('r3'), 6)).toBeUndefined();
    await expect(ledger.book(where, report('r3'), 6)).rejects.toThrow();
  });

  it('hands back every report as it was booked, odd numbers included, oldest first', async () => {
    const ledger = await UsageLedger.open(undefined);
    const odd = { ...report('r2'), metrics: { duration_ms: -0, token_usage: { input: 3, output: 4 } } };
    expect(ledger.bookAtOnce(where, report('r1'), 1)).toBe(true);
    expect(ledger.bookAtOnce({ tenant_id: 't2', device_id: 'd9' }, report('r1'), 2)).toBe(true);
    expect(ledger.bookAtOnce(where, odd, 3)).toBe(true);
    const { reports, totals } = ledger.summary('t1');
    expect(reports).toStrictEqual([
      { tenant_id: 't1', device_id: 'd1', report_id: 'usage:r1', request_id: 'r1', metrics: { duration_ms: 5 }, booked_at: 1 },
      {
        tenant_id: 't1',
        device_id: 'd1',
        report_id: 'usage:r2',
        request_id: 'r2',
        metrics: { duration_ms: -0, token_usage: { input: 3, output: 4 } },
        booked_at: 3,
      },
    ]);
    expect(Object.is(reports[1]!.metrics.duration_ms, -0)).toBe(true);
    expect(totals).toEqual({ reports: 2, duration_ms: 5, input_tokens: 3, output_tokens: 4, cost_estimate: 0 });
    expect(ledger.summary('t2').reports.map((r) => r.device_id)).toEqual(['d9']);
    await ledger.close();
  });

  it("books a turn's reports once each and in order, whether written into the index at once or after the turn's writes", async () => {
    const ledger = await UsageLedger.open(undefined);
    const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
    const booked = () => ledger.summary('t1').reports.map((r) => r.request_id);
    // The first of a turn (written after the turn's frames), a copy of it, then others.
    expect(ledger.bookAtOnce(where, report('r1'), 1)).toBe(true);
    expect(ledger.bookAtOnce(where, report('r1'), 2)).toBe(false);
    expect(ledger.bookAtOnce(where, report('r2'), 3)).toBe(true);
    expect(ledger.bookAtOnce(where, report('r3'), 4)).toBe(true);
    expect(ledger.bookAtOnce(where, report('r2'), 5)).toBe(false);
    await endOfTurn();
    // A new turn's first: a copy of an old one, then one asked for before the turn ends.
    expect(ledger.bookAtOnce(where, report('r2'), 6)).toBe(false);
    expect(ledger.bookAtOnce(where, report('r4'), 7)).toBe(true);
    expect(booked()).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(ledger.bookAtOnce(where, report('r4'), 8)).toBe(false);
    await endOfTurn();
    expect(ledger.bookAtOnce(where, report('r5'), 9)).toBe(true);
    expect(ledger.bookAtOnce(where, report('r5'), 10)).toBe(false);
    await endOfTurn();
    expect(ledger.summary('t1').reports.map((r) => [r.request_id, r.booked_at])).toEqual([
      ['r1', 1],
      ['r2', 3],
      ['r3', 4],
      ['r4', 7],
      ['r5', 9],
    ]);
    await ledger.close();
  });

  it('leaves a ledger on disk to book, which writes first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    try {
      const ledger = await UsageLedger.open(join(dir, 'usage.log'));
      expect(ledger.bookAtOnce(where, report('r1'), 1)).toBeUndefined();
      expect(ledger.summary('t1').reports).toEqual([]);
      expect(await ledger.book(where, report('r1'), 1)).toBe(true);
      await ledger.close();
      const reopened = await UsageLedger.open(join(dir, 'usage.log'));
      expect(reopened.summary('t1').reports.map((r) => r.request_id)).toEqual(['r1']);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
