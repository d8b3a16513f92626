import { describe, expect, it } from 'vitest';
import { formatReport, problemsOf, runChaos } from './chaos.ts';

/*
 * The short chaos soak: a real hub and a real connector over real sockets and the real clock,
 * through the fault proxy, while seeded faults fire every few hundred milliseconds, and the
 * connector's store sits on a small tmpfs that fills up once for a few seconds. `npm run soak`
 * runs the same scenario (test/faults/chaos.ts) with 5,000 executions.
 */
describe('chaos soak', () => {
  it('300 executions through cuts, stalls, delays, throttling, split frames, hub restarts and a full disk: none lost, none run twice, reliable channel messages arrive once each, settings converge, nothing leaks', async () => {
    const report = await runChaos({ executions: 300, seed: 20_260_901 });
    console.log(formatReport(report));
    // Every kind of fault happened, and the connection really was broken many times.
    for (const kind of ['cut', 'stall', 'delay', 'throttle', 'split', 'restart'] as const)
      expect(report.faults[kind], kind).toBeGreaterThan(0);
    expect(report.reconnects).toBeGreaterThanOrEqual(3);
    expect(report.tokenRefreshes).toBeGreaterThan(0);
    expect(report.lost).toEqual([]);
    expect(report.duplicates).toBe(0);
    expect(report.completed).toBe(300);
    expect(report.ledgerReports).toBe(300);
    expect(report.settings.converged).toBe(true);
    // Reliable channel messages sent all through it: every one at the hub, once.
    expect(report.channel.reliable.sent).toBeGreaterThan(0);
    expect(report.channel.reliable.missing).toEqual([]);
    expect(report.channel.reliable.duplicates).toBe(0);
    expect(report.channel.reliable.received).toBe(report.channel.reliable.sent);
    expect(report.settings.device).toEqual(report.settings.hub);
    expect(report.errors).toEqual([]);
    // The disk filled once, the connector said so and recovered by itself, and what lived through it ended once.
    expect(report.diskFull.fills).toBe(1);
    expect(report.diskFull.failing).toBeGreaterThan(0);
    expect(report.diskFull.recovered).toBe(report.diskFull.failing);
    expect(report.diskFull.spells[0]!.failing).toBe(true);
    expect(report.diskFull.spanned).toBeGreaterThan(0);
    expect(report.diskFull.lost).toBe(0);
    expect(report.diskFull.duplicated).toBe(0);
    // 16 MiB catches a gross leak only: 300 executions are too few to tell a small one from what a
    // first run compiles and caches. `npm run soak` measures 5,000 after a warm-up, against 6 MiB.
    expect(problemsOf(report, { heapGrowthBytes: 16 * 2 ** 20 })).toEqual([]);
  }, 600_000);
});
