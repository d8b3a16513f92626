import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Report } from '../../bench/support/rounds.ts';

const BENCHMARKS = ['round-trip', 'scale', 'storm', 'outbox', 'footprint', 'cluster'];

/**
 * `npm run bench -- --smoke`: every benchmark runs end to end at small sizes, so they keep
 * working as the code changes. No figure is judged here (timing belongs to `npm run bench`);
 * what must hold is that each one ran, measured its subject and its baseline, and got numbers.
 */
describe('benchmarks (smoke)', () => {
  it('run end to end and report finite figures with their baselines', { timeout: 900_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-bench-smoke-'));
    try {
      const out = join(dir, 'reports.json');
      const child = spawn(process.execPath, ['--import', 'tsx', 'bench/main.ts', '--smoke', '--json', out], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, output).toBe(0);
      const reports = JSON.parse(await readFile(out, 'utf8')) as Array<Report & { benchmark: string }>;
      expect(new Set(reports.map((r) => r.benchmark))).toEqual(new Set(BENCHMARKS));
      for (const report of reports) {
        expect(report.rows.length, report.title).toBeGreaterThan(0);
        for (const { figure, baseline, target } of report.rows) {
          expect(Number.isFinite(figure.median), `${report.title}: ${figure.name}`).toBe(true);
          // A baseline may measure 0 at smoke sizes (a raw ws server's RSS that did not move for 200
          // idle sessions); it must still be a number.
          if (baseline) expect(Number.isFinite(baseline.median), `${report.title}: ${baseline.name}`).toBe(true);
          // Smoke runs judge nothing.
          expect(target).toBeUndefined();
        }
        // Each benchmark with baselines measured something in them: not all zero.
        const baselines = report.rows.flatMap((row) => (row.baseline ? [row.baseline.median] : []));
        if (baselines.length > 0)
          expect(
            baselines.some((median) => median !== 0),
            report.title,
          ).toBe(true);
      }
      expect(reports.some((r) => r.rows.some((row) => row.baseline))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
