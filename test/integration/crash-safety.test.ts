import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createHub } from '../../src/hub/index.ts';
import { settle } from '../support/execution-fixture.ts';
import { onLines } from '../support/loopback.ts';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TERMINAL = ['completed', 'failed', 'cancelled', 'timed_out'];

describe('crash safety of a connector with a busy outbox', () => {
  it('killed with SIGKILL at random points and restarted: every accepted report reaches the hub exactly once, every request ends once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-crash-'));
    const hub = createHub({ staticToken: 'crash-token' });
    const { url } = await hub.listen({ port: 0 });
    const total = 400;
    const handles = Array.from({ length: total }, (_, n) =>
      hub.execute('crash-dev', { request_id: `c${n}`, job_type: 'tool', tool_name: 'work', inputs: { n } }, { tenantId: 'crash' }),
    );
    let finished = 0;
    const all = Promise.all(handles.map((h) => h.result.then(() => finished++)));
    const durable = new Set<string>();
    const runs = new Map<string, number>();
    // Seeded kill points: after this many durable usage reports in each round.
    const killPoints = fc.sample(fc.integer({ min: 5, max: 60 }), { numRuns: 6, seed: 20261121 });
    let kills = 0;
    for (let round = 0; finished < total; round++) {
      const killAfter = killPoints[round];
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/connector-child.ts', url, dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      let seen = 0;
      onLines(child.stdout, (line) => {
        const [kind, value] = line.split(' ');
        if (kind === 'run') runs.set(value!, (runs.get(value!) ?? 0) + 1);
        if (kind !== 'durable') return;
        durable.add(value!);
        if (++seen === killAfter) {
          child.kill('SIGKILL');
          kills += 1;
        }
      });
      if (killAfter === undefined) {
        // The last round runs to the end.
        while (finished < total) await settle(1);
        child.kill('SIGKILL');
      }
      await exited;
      expect(round).toBeLessThan(20);
    }
    await all;
    // The ledger is written before the hub acknowledges: give the last reports their turn.
    for (let i = 0; i < 2_000 && hub.usage('crash').totals.reports < total; i++) await settle(1);
    await hub.close();

    const ledger = hub.usage('crash');
    const booked = ledger.reports.map((r) => r.request_id);
    expect(new Set(booked).size).toBe(booked.length);
    for (const id of durable) expect(booked).toContain(id);
    expect(booked).toHaveLength(total);
    let interrupted = 0;
    for (let n = 0; n < total; n++) {
      const execution = hub.execution(`c${n}`)!;
      const terminals = execution.events.filter((e) => TERMINAL.includes(e.event_type));
      expect(terminals).toHaveLength(1);
      if (execution.status === 'failed') {
        expect(execution.outcome).toMatchObject({ error: { code: 'interrupted' } });
        interrupted += 1;
      } else expect(execution.status).toBe('completed');
    }
    expect(kills).toBe(killPoints.length);
    // A request journaled before its handler starts is never started again after a crash.
    expect([...runs.entries()].filter(([, count]) => count > 1)).toEqual([]);
    console.log(
      `crash safety: ${kills} SIGKILLs, ${runs.size} handler runs, ${durable.size} reports promised, ${booked.length} booked once each, ${interrupted} interrupted`,
    );
  }, 600_000);
});
