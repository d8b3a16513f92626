/**
 * `npm run explore [-- --runs N] [--seed S]`: runs the model-based tests of the machines with
 * many more runs than CI and a fresh seed each (printed), then prints one line per machine,
 * `<machine>: <covered>/<total> transitions`, merged over every test file that drives it.
 * Exits non-zero when a test fails; fast-check then prints the seed and the shrunk commands, and
 * the run ends with one `reproduce:` line per failure (test/support/model-run.ts writes them):
 * the seed, runs, path and replay path, the file and the test, ready to paste.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '2000' },
    seed: { type: 'string', default: 'random' },
  },
});

const out = mkdtempSync(join(tmpdir(), 'cloudtether-explore-'));
const root = join(import.meta.dirname, '..');
const started = performance.now();
const run = spawnSync(join(root, 'node_modules', '.bin', 'vitest'), ['run', 'test/machines/', '--testTimeout=0'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, FC_RUNS: values.runs, FC_SEED: values.seed, EXPLORE_OUT: out },
});

const machines = new Map<string, { all: Set<string>; covered: Set<string> }>();
const failures: string[] = [];
for (const file of readdirSync(out)) {
  if (file.startsWith('failure-')) {
    failures.push(
      ...readFileSync(join(out, file), 'utf8')
        .split('\n')
        .filter((line) => line !== ''),
    );
    continue;
  }
  const saved = JSON.parse(readFileSync(join(out, file), 'utf8')) as { machine: string; all: string[]; covered: string[] };
  const entry = machines.get(saved.machine) ?? { all: new Set(saved.all), covered: new Set<string>() };
  for (const key of saved.covered) entry.covered.add(key);
  machines.set(saved.machine, entry);
}
rmSync(out, { recursive: true, force: true });

console.log(`\nexplored with FC_RUNS=${values.runs} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
for (const [machine, { all, covered }] of [...machines].sort(([a], [b]) => a.localeCompare(b))) {
  const missing = [...all].filter((k) => !covered.has(k));
  console.log(`${machine}: ${covered.size}/${all.size} transitions${missing.length > 0 ? `  missing: ${missing.join(', ')}` : ''}`);
}
for (const line of failures) console.log(line);
process.exit(run.status ?? 1);
