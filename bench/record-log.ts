/**
 * Durable appends per second: the record log against a naive durable append (one write and one
 * fdatasync per record), measured in the same run on the same disk. Sequential appends show the
 * cost of the log's format; concurrent appends show group commit. Median of 3 rounds after a
 * warm-up; records of 256 bytes.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRecordLog } from '../src/storage/record-log.ts';

const RECORDS = Number(process.env.BENCH_RECORDS ?? 2_000);
const value = { id: 'x'.repeat(200), n: 0 };

async function naive(path: string): Promise<number> {
  const file = await open(path, 'a', 0o600);
  const line = `${JSON.stringify(value)}\n`;
  const start = performance.now();
  for (let i = 0; i < RECORDS; i++) {
    await file.write(line);
    await file.datasync();
  }
  const elapsed = performance.now() - start;
  await file.close();
  return (RECORDS / elapsed) * 1000;
}

async function logSequential(path: string): Promise<number> {
  const log = await openRecordLog(path);
  const start = performance.now();
  for (let i = 0; i < RECORDS; i++) await log.append({ ...value, n: i });
  const elapsed = performance.now() - start;
  await log.close();
  return (RECORDS / elapsed) * 1000;
}

async function logConcurrent(path: string, inFlight: number): Promise<number> {
  const log = await openRecordLog(path);
  const start = performance.now();
  for (let i = 0; i < RECORDS; i += inFlight) {
    await Promise.all(Array.from({ length: Math.min(inFlight, RECORDS - i) }, (_, j) => log.append({ ...value, n: i + j })));
  }
  const elapsed = performance.now() - start;
  await log.close();
  return (RECORDS / elapsed) * 1000;
}

async function rounds(name: string, run: (path: string) => Promise<number>): Promise<{ name: string; median: number; spread: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'cloudtether-bench-'));
  try {
    await run(join(dir, 'warmup'));
    const results: number[] = [];
    for (let r = 0; r < 3; r++) results.push(await run(join(dir, `r${r}`)));
    results.sort((a, b) => a - b);
    return { name, median: results[1]!, spread: (results[2]! - results[0]!) / results[1]! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const baseline = await rounds('naive write+fdatasync per record (baseline)', naive);
const results = [
  baseline,
  await rounds('record log, sequential appends', logSequential),
  await rounds('record log, 16 appends in flight (group commit)', (p) => logConcurrent(p, 16)),
  await rounds('record log, 64 appends in flight (group commit)', (p) => logConcurrent(p, 64)),
];
console.log(`durable appends/s, ${RECORDS} records of ~256 B, median of 3 (spread = (max-min)/median)`);
for (const r of results) {
  console.log(`${r.name.padEnd(52)} ${r.median.toFixed(0).padStart(8)}/s  spread ${(r.spread * 100).toFixed(0).padStart(3)}%  ratio ${(r.median / baseline.median).toFixed(2)}x`);
}
