/**
 * Durable appends per second through the outbox (what the executor calls) and the record log
 * under it, with the durability the runtime ships with (write + fdatasync per group commit),
 * against a naive durable append: one write and one fdatasync per record, on the same disk.
 * Every round measures each variant once, in a fresh file, so drift in the disk hits all alike.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutboxEntry } from '../../src/delivery/outbox.ts';
import { openRecordLog } from '../../src/storage/record-log.ts';
import { type BenchOptions, figure, inRounds, type Report, type Row } from '../support/rounds.ts';
import { appendRate, messages, runtimeOutbox } from './job-messages.ts';

interface Variant {
  name: string;
  /** Appends per second for `records` records written to a new file at `path`. */
  measure(path: string, records: number): Promise<number>;
}

const stamped = (count: number): Array<OutboxEntry['message']> =>
  messages(count).map((m) => ({ ...m, id: m.id ?? crypto.randomUUID(), ts: m.ts ?? Date.now() }) as OutboxEntry['message']);

const naive: Variant = {
  name: 'naive write+fdatasync per record',
  async measure(path, records) {
    const lines = stamped(records).map((message, i) => `${JSON.stringify({ s: i + 1, t: Date.now(), v: { message } })}\n`);
    const file = await open(path, 'a', 0o600);
    try {
      return await appendRate(records, 1, async (i) => {
        await file.write(lines[i]!);
        await file.datasync();
      });
    } finally {
      await file.close();
    }
  },
};

function recordLog(inFlight: number): Variant {
  return {
    name: inFlight === 1 ? 'record log, sequential' : `record log, ${inFlight} in flight`,
    async measure(path, records) {
      const values = stamped(records).map((message) => ({ message }));
      const log = await openRecordLog<OutboxEntry>(path);
      try {
        return await appendRate(records, inFlight, (i) => log.append(values[i]!));
      } finally {
        await log.close();
      }
    },
  };
}

function outbox(inFlight: number): Variant {
  return {
    name: inFlight === 1 ? 'outbox.append, sequential' : `outbox.append, ${inFlight} in flight`,
    async measure(path, records) {
      const batch = messages(records);
      const log = await openRecordLog<OutboxEntry>(path);
      const box = runtimeOutbox(log);
      try {
        return await appendRate(records, inFlight, (i) => box.append(batch[i]!));
      } finally {
        await log.close();
      }
    },
  };
}

/** Mean bytes per stored line, read back from a log the outbox wrote. */
async function lineBytes(path: string): Promise<number> {
  const log = await openRecordLog<OutboxEntry>(path);
  const count = log.pending().length;
  await log.close();
  const file = await open(path, 'r');
  const { size } = await file.stat();
  await file.close();
  return size / count;
}

/** The durable-appends report. */
export async function measureAppends(options: BenchOptions): Promise<Report> {
  const records = options.smoke ? 200 : Number(process.env.BENCH_RECORDS ?? 5_000);
  const rounds = options.smoke ? 1 : 5;
  const subjects = [recordLog(1), recordLog(64), outbox(1), outbox(16), outbox(64)];
  const variants = [naive, ...subjects];
  const dir = await mkdtemp(join(tmpdir(), 'cloudtether-bench-outbox-'));
  try {
    const results = await inRounds(
      rounds,
      async (round) => {
        const rates: number[] = [];
        for (const [v, variant] of variants.entries()) rates.push(await variant.measure(join(dir, `r${round}-${v}.log`), records));
        await Promise.all(variants.map((_, v) => rm(join(dir, `r${round}-${v}.log`), { force: true })));
        return rates;
      },
      { warmup: options.smoke ? 0 : 1 },
    );
    const baseline = figure(
      naive.name,
      '/s',
      results.map((r) => r[0]!),
      'higher',
    );
    const rows: Row[] = [{ figure: baseline }];
    for (const [s, subject] of subjects.entries())
      rows.push({
        figure: figure(
          subject.name,
          '/s',
          results.map((r) => r[s + 1]!),
          'higher',
        ),
        baseline,
      });
    await outbox(1).measure(join(dir, 'size.log'), 400);
    const bytes = await lineBytes(join(dir, 'size.log'));
    return {
      title: 'Outbox: durable appends',
      setup: `${records} records per round (one job = accepted, started, completed with a ~300 B result, usage report; ${bytes.toFixed(0)} B per stored line), write + fdatasync per group commit, files in ${tmpdir()}; ${rounds} rounds${options.smoke ? '' : ' after a warm-up'}`,
      rows,
      notes: [
        '"N in flight": N writers each awaiting its own append (N executions at once); the log writes what queued during a flush as one write + one fdatasync.',
        'outbox.append = record log + envelope stamp + encode check (the frame must be sendable before it is stored); offline, nothing sent.',
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
