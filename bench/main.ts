/**
 * `npm run bench`: every benchmark, or those named (built: the runtime is the package's dist/ under
 * plain node; support/script.ts), one after another in this process (a
 * benchmark that needs a second process starts it). `--smoke` runs each for seconds with small
 * sizes and judges no targets (CI runs it so the benchmarks keep working); `--json FILE` also
 * writes the reports as JSON.
 *
 *   npm run bench                       all, full size
 *   npm run bench -- round-trip outbox  two of them
 *   npm run bench -- --smoke            all, seconds
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { type BenchOptions, formatReport, type Report } from './support/rounds.ts';
import { RUNTIME_FORM } from './support/script.ts';

type Benchmark = (options: BenchOptions) => Promise<Report[]>;

/** Loaded on demand, so one benchmark's imports do not weigh on another's figures. */
const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  'round-trip': async () => (await import('./round-trip/round-trip.ts')).run,
  scale: async () => (await import('./scale/scale.ts')).run,
  storm: async () => (await import('./storm/storm.ts')).run,
  outbox: async () => (await import('./outbox/outbox.ts')).run,
  footprint: async () => (await import('./footprint/footprint.ts')).run,
  cluster: async () => (await import('./cluster/cluster.ts')).run,
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { smoke: { type: 'boolean', default: false }, json: { type: 'string' } },
});
const unknown = positionals.filter((name) => !(name in BENCHMARKS));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}
const selected = positionals.length > 0 ? positionals : Object.keys(BENCHMARKS);
const options: BenchOptions = { smoke: values.smoke };

console.log(`# cloudtether benchmarks${options.smoke ? ' (smoke: small sizes, no targets)' : ''}; ${RUNTIME_FORM}`);
console.log(
  `node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}/${process.arch}\n`,
);
const all: Array<Report & { benchmark: string }> = [];
for (const name of selected) {
  const reports = await (await BENCHMARKS[name]!())(options);
  for (const report of reports) {
    console.log(`${formatReport(report)}\n`);
    all.push({ benchmark: name, ...report });
  }
}
if (values.json) await writeFile(values.json, `${JSON.stringify(all, null, 2)}\n`);
const missed = all.flatMap((report) =>
  report.rows.filter((row) => row.target && !row.target.met).map((row) => `${report.title}: ${row.figure.name}`),
);
if (missed.length > 0) console.log(`targets missed: ${missed.join('; ')}`);
// Sockets and timers of a benchmark must not keep the run alive; exit when done.
process.exit(0);
