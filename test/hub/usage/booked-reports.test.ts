import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BookedReports } from '../../../src/hub/usage/booked-reports.ts';
import type { UsageEntry } from '../../../src/hub/usage/usage-store.ts';
import { collidingStrings } from '../../support/colliding-strings.ts';
import { heapAfterGc } from '../../fuzz/heap.ts';

/** Metrics as frames give them, the odd ones JSON would not give back (kept as bytes all the same), and one with a Date (kept as the object). */
const metrics = fc.oneof(
  fc.record({ duration_ms: fc.nat() }),
  fc.record(
    {
      duration_ms: fc.double({ min: 0, max: 1e6, noNaN: true }),
      token_usage: fc.record({ input: fc.nat(), output: fc.nat() }),
      cost_estimate: fc.double({ min: 0, max: 10, noNaN: true }),
    },
    { requiredKeys: ['duration_ms'] },
  ),
  fc.constantFrom({ duration_ms: -0 }, { duration_ms: 1, cost_estimate: undefined }, { duration_ms: 2, at: new Date(5) }),
);

const op = fc.oneof(
  fc.record({
    kind: fc.constantFrom('add' as const, 'set' as const),
    tenant: fc.constantFrom('t1', 't2', 't3'),
    // Few ids, so reports are booked twice; the same ids under other tenants are other reports.
    report: fc.oneof(
      fc.integer({ min: 0, max: 30 }).map((n) => `usage:r${n}`),
      fc.constantFrom('\ud800', '', 'usage:r1 '),
    ),
    device: fc.constantFrom('d1', 'd2'),
    metrics,
    // Its request id the one its report id names (as the connector's reports are), or another.
    derived: fc.boolean(),
    // As usageEntryOf makes it, or as a ledger's file could hold one: its keys in another order, or one more.
    shape: fc.constantFrom('made', 'made', 'reordered', 'extra'),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    tenant: fc.constantFrom('t1', 't2', 't3'),
    report: fc.integer({ min: 0, max: 30 }).map((n) => `usage:r${n}`),
  }),
);

describe('BookedReports', () => {
  it('answers as a Map of Maps of entries would: bookings, copies refused, deletes, and each tenant in order', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const booked = new BookedReports();
        const oracle = new Map<string, Map<string, UsageEntry>>();
        let now = 0;
        for (const step of ops) {
          now += 1;
          const tenant = oracle.get(step.tenant) ?? new Map<string, UsageEntry>();
          oracle.set(step.tenant, tenant);
          if (step.kind === 'delete') {
            booked.delete(step.tenant, step.report);
            tenant.delete(step.report);
            continue;
          }
          const requestId = step.derived && step.report.startsWith('usage:') ? step.report.slice('usage:'.length) : `req-${now}`;
          const made: UsageEntry = {
            tenant_id: step.tenant,
            device_id: step.device,
            report_id: step.report,
            request_id: requestId,
            metrics: step.metrics,
            booked_at: now,
          };
          const reordered = {
            booked_at: now,
            tenant_id: step.tenant,
            device_id: step.device,
            report_id: step.report,
            request_id: requestId,
            metrics: step.metrics,
          };
          const entry = step.shape === 'made' ? made : step.shape === 'extra' ? { ...made, note: 'from an older hub' } : reordered;
          if (step.kind === 'add') {
            expect(booked.add(entry)).toBe(!tenant.has(step.report));
            if (!tenant.has(step.report)) tenant.set(step.report, entry);
          } else {
            booked.set(entry);
            tenant.set(step.report, entry);
          }
          expect(booked.has(step.tenant, step.report)).toBe(true);
        }
        let size = 0;
        for (const [tenantId, tenant] of oracle) {
          // As a summary hands them out (a structured clone), strictly equal: -0 stays -0, an undefined key stays there.
          expect(structuredClone(booked.entries(tenantId))).toStrictEqual(structuredClone([...tenant.values()]));
          for (let n = 0; n <= 30; n++) expect(booked.has(tenantId, `usage:r${n}`)).toBe(tenant.has(`usage:r${n}`));
          size += tenant.size;
        }
        expect(booked.size).toBe(size);
        expect(booked.entries('nobody')).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('holds none of the metrics of an entry once it is gone, kept as bytes or declined for them', async () => {
    const booked = new BookedReports();
    const met = [{ n: 1 }, { n: 2 }].map((object, n) => {
      // Kept as bytes, and declined for its Date (kept as the object): both met by the writer.
      const metrics = n === 0 ? { duration_ms: 1, met: object } : { duration_ms: 2, met: object, at: new Date(5) };
      booked.add({ tenant_id: 't', device_id: 'd', report_id: `usage:r${n}`, request_id: `r${n}`, metrics, booked_at: n });
      return new WeakRef(object);
    });
    booked.delete('t', 'usage:r1');
    // Collected turns later: a WeakRef's target lives to the end of the turn that made it.
    await heapAfterGc();
    expect(met.map((ref) => ref.deref())).toEqual([undefined, undefined]);
  });

  it('keeps a hundred thousand entries off the heap and finds each', () => {
    const booked = new BookedReports();
    for (let n = 0; n < 100_000; n++) {
      booked.add({
        tenant_id: `t${n % 3}`,
        device_id: 'd1',
        report_id: `usage:req_${n}`,
        request_id: `req_${n}`,
        metrics: { duration_ms: n },
        booked_at: n,
      });
    }
    expect(booked.size).toBe(100_000);
    expect(
      booked.add({
        tenant_id: 't1',
        device_id: 'd1',
        report_id: 'usage:req_4',
        request_id: 'x',
        metrics: { duration_ms: 0 },
        booked_at: 0,
      }),
    ).toBe(false);
    expect(booked.has('t0', 'usage:req_4')).toBe(false);
    const entries = booked.entries('t2');
    expect(entries).toHaveLength(33_333);
    expect(entries[0]).toStrictEqual({
      tenant_id: 't2',
      device_id: 'd1',
      report_id: 'usage:req_2',
      request_id: 'req_2',
      metrics: { duration_ms: 2 },
      booked_at: 2,
    });
    expect(entries.at(-1)!.report_id).toBe('usage:req_99998');
  });

  it('report ids built to share a home cell under its keys make it take new keys: every entry found, no long run', () => {
    const keys = [0x01234567, 0x89abcdef] as const;
    // 100 reports of the first tenant (its index, 0, seeds the hash) in a table of 256 cells, every one homed at cell 0.
    const colliding = collidingStrings(100, keys, 255, 0, 'usage:r');
    const booked = new BookedReports(keys);
    const entryOf = (reportId: string, n: number): UsageEntry => ({
      tenant_id: 't1',
      device_id: 'd1',
      report_id: reportId,
      // Half as the connector makes them (the report id derived from the request id), half not.
      request_id: n % 2 === 0 ? reportId.slice('usage:'.length) : `other-${n}`,
      metrics: { duration_ms: n },
      booked_at: n,
    });
    colliding.forEach((id, n) => expect(booked.add(entryOf(id, n))).toBe(true));
    expect(booked.rekeyed).toBeGreaterThan(0);
    expect(colliding.every((id) => booked.has('t1', id))).toBe(true);
    expect(colliding.every((id, n) => !booked.add(entryOf(id, n)))).toBe(true);
    expect(booked.entries('t1').map((entry) => entry.report_id)).toEqual(colliding);
    expect(booked.longestRun()).toBeLessThan(40);
  });

  it('report ids built against other keys than its own (random) ones spread like any others', () => {
    const booked = new BookedReports();
    collidingStrings(100, [0x01234567, 0x89abcdef], 255).forEach((id, n) =>
      booked.add({ tenant_id: 't1', device_id: 'd1', report_id: id, request_id: id, metrics: { duration_ms: n }, booked_at: n }),
    );
    expect(booked.rekeyed).toBe(0);
    expect(booked.longestRun()).toBeLessThan(40);
  });
});
