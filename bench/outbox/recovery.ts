/**
 * Recovery of a crashed outbox: a child process appends jobs' messages through the outbox until
 * `entries` are durable and is killed with SIGKILL while still appending; a torn half record is
 * then added at the end (what a write cut by a power loss leaves). Each round times, on a fresh
 * copy of that directory, what a restarted connector does before it can resend: open the store
 * (replay every log, check each line's CRC, cut the torn tail), recover the executor, attach the
 * outbox to a connection (the first window goes out). Baseline: `readFile` + `split` +
 * `JSON.parse` of the same file. Nothing may be lost: the entries recovered must be every
 * complete line in the file, and at least the appends acknowledged before the kill.
 */
import { spawn } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../src/util/clock.ts';
import { openConnectorStore, RemoteWork } from '../../src/connector/remote-work.ts';
import { MAX_FRAME_BYTES } from '../../src/protocol/envelope.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import { openRecordLog } from '../../src/storage/record-log.ts';
import { type BenchOptions, figure, inRounds, type Report } from '../support/rounds.ts';
import { benchScript, scriptNodeFlags } from '../support/script.ts';

const WRITER = benchScript('./crash-writer.ts', import.meta.url);

/** Runs the writer in `dir` until `entries` appends are durable, then SIGKILLs it. Returns how many it had acknowledged. */
async function crashAfter(dir: string, entries: number): Promise<number> {
  const child = spawn(process.execPath, [...scriptNodeFlags(), WRITER, dir, String(entries)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  let output = '';
  const durable = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the writer did not reach ${entries} durable appends in 5 minutes`)), 300_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /durable (\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.kill('SIGKILL'); // mid-append: 64 appends are in flight
      resolve(Number(match[1]));
    });
    void exited.then(() => reject(new Error(`the writer exited before it was killed: ${output}`)));
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  if ((await exited) !== 'SIGKILL') throw new Error('the writer was not killed by SIGKILL');
  return durable;
}

/** Baseline: the file read and every line parsed, nothing checked. Returns the record lines. */
async function parseLines(path: string): Promise<number> {
  const text = await readFile(path, 'utf8');
  let records = 0;
  for (const line of text.split('\n')) {
    try {
      if ('s' in (JSON.parse(line) as object)) records += 1;
    } catch {
      // the torn tail, or the empty string after the last newline
    }
  }
  return records;
}

/** What a restarted connector does before it resends: store, executor recovery, outbox attached. Timed up to the first window sent; closing is not. */
async function restart(dir: string): Promise<{ ms: number; recovered: number; sent: number }> {
  const start = performance.now();
  const store = await openConnectorStore(dir);
  const runtime = new RemoteWork({
    deviceId: 'bench-device',
    codec: createCodec({ now: () => Date.now(), receiver: 'device' }),
    clock: realClock,
    logger: silentLogger(),
    store,
    onResume: () => {},
    onLoss: () => {},
  });
  await runtime.recover();
  let sent = 0;
  const sendFrame = () => ++sent > 0;
  runtime.connected({ resume: undefined, maxFrameBytes: MAX_FRAME_BYTES, sendFrame, send: () => true, sendBuilt: () => true });
  const ms = performance.now() - start;
  const recovered = runtime.outbox.depth;
  await runtime.stop();
  await store.telemetry?.close();
  return { ms, recovered, sent };
}

/** The recovery report. */
export async function measureRecovery(options: BenchOptions): Promise<Report> {
  const entries = options.smoke ? 2_000 : 100_000;
  const rounds = options.smoke ? 1 : 5;
  const root = await mkdtemp(join(tmpdir(), 'cloudtether-bench-recovery-'));
  try {
    const crashed = join(root, 'crashed');
    const durable = await crashAfter(crashed, entries);
    const log = join(crashed, 'outbox.log');
    const complete = (await stat(log)).size;
    // A record cut in half, as a write torn by a power loss leaves it (SIGKILL alone rarely tears one).
    const lastLine = (await readFile(log, 'utf8')).trimEnd().split('\n').at(-1)!;
    await appendFile(log, lastLine.slice(0, lastLine.length >> 1));
    const results = await inRounds(
      rounds,
      async (round) => {
        const copy = join(root, `round${round}`);
        await cp(crashed, copy, { recursive: true });
        let start = performance.now();
        const lines = await parseLines(join(copy, 'outbox.log'));
        const baseline = performance.now() - start;
        const { ms: subject, recovered, sent } = await restart(copy);
        await rm(copy, { recursive: true });
        await cp(crashed, copy, { recursive: true });
        start = performance.now();
        const replay = await openRecordLog(join(copy, 'outbox.log'));
        const replayOnly = performance.now() - start;
        const replayed = replay.pending().length;
        await replay.close();
        await rm(copy, { recursive: true });
        if (recovered !== lines || replayed !== lines || recovered < durable) {
          throw new Error(
            `outbox recovery lost entries: ${lines} complete lines, ${durable} acknowledged, ${recovered} recovered (${replayed} by the log alone)`,
          );
        }
        return { baseline, subject, replayOnly, recovered, sent };
      },
      { warmup: options.smoke ? 0 : 1 },
    );
    const baseline = figure(
      'readFile + split + JSON.parse',
      'ms',
      results.map((r) => r.baseline),
      'lower',
    );
    const { recovered, sent } = results[0]!;
    return {
      title: 'Outbox: recovery after a crash',
      setup: `${recovered} entries (${(complete / 2 ** 20).toFixed(1)} MiB) written through the outbox by a child killed with SIGKILL mid-append, plus a torn half record; timed on a fresh copy each round (file in the page cache); ${rounds} rounds${options.smoke ? '' : ' after a warm-up'}`,
      rows: [
        { figure: baseline },
        {
          figure: figure(
            'open store -> outbox resending',
            'ms',
            results.map((r) => r.subject),
            'lower',
          ),
          baseline,
        },
        {
          figure: figure(
            'record log replay alone',
            'ms',
            results.map((r) => r.replayOnly),
            'lower',
          ),
          baseline,
        },
      ],
      notes: [
        `lost nothing: ${recovered} recovered = every complete line in the file, ${durable} acknowledged before the kill; the torn tail was cut; ${sent} frames sent on attach (the window).`,
        '"open store -> outbox resending": openConnectorStore (outbox, executions and telemetry logs), executor recovery, the outbox attached to a connection that takes every frame.',
      ],
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
