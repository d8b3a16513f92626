/**
 * `npm run bench -- footprint`: what a host pays for cloudtether as it ships. The package is
 * built, packed and installed from its tarball into an empty project outside the repository
 * (package.ts); every measurement is a fresh plain-node child process in that project, against
 * its baseline in the same rounds:
 *
 * - import time: process start → `import('cloudtether')` resolved, against bare `node -e`;
 * - heap: one idle connected connector (to a hub in this process, loopback) above bare node;
 * - start-up: `start()` → `connected`, against a raw `ws` client sending a hand-made `connect`;
 * - size: the tarball, and node_modules after `npm install <tarball> --omit=dev`.
 *
 * Each report prints the load average and the share of the CPUs other processes took while it
 * measured: on a shared machine, a time is only as good as its quiet.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createHub } from '../../src/hub/index.ts';
import { machineLoad, sampleMachine } from '../support/machine-load.ts';
import { type BenchOptions, type Figure, figure, inRounds, type Report, type Row } from '../support/rounds.ts';
import { type ImportSubject, type ImportTiming, timeImport } from './import-time.ts';
import { installPackage, type InstalledPackage, staticImports } from './package.ts';
import { installedProbe, type ProbeRunner } from './probe-process.ts';
import type { ProbeResult } from './probe.ts';

const TOKEN = 'footprint-bench-token';
/** The package's main entry, as package.json `exports` names it. */
const ENTRY = 'dist/index.js';
const MiB = 2 ** 20;
/** Decimal, as npm prints sizes. */
const kB = 1000;
const MB = 1000 * kB;
const IMPORT_TARGET_RATIO = 2.5;
const HEAP_TARGET_MIB = 8;
const HEAP_GOAL_MIB = 5;
const CONNECT_TARGET_MS = 50;
const TARBALL_TARGET_KB = 300;
const INSTALL_TARGET_MB = 25;

/** Runs the footprint benchmarks. */
export async function run(options: BenchOptions): Promise<Report[]> {
  // Smoke runs skip the declarations (half the build); nothing they measure reads them.
  const pkg = await installPackage({ declarations: !options.smoke });
  try {
    const probe = await installedProbe(pkg.dir);
    // What import('cloudtether') loads of its dependencies, by the specifiers it uses.
    const dependencies = await staticImports(join(pkg.dir, 'node_modules', 'cloudtether', ENTRY));
    const imports = await importReport(pkg, dependencies, options);
    const [heap, start] = await heapAndStartReports(probe, [...dependencies.values()].flat(), options);
    return [imports, heap, start, sizeReport(pkg, options)];
  } finally {
    await pkg.dispose();
  }
}

const mib = (name: string, values: number[]): Figure =>
  figure(
    name,
    'MiB',
    values.map((v) => v / MiB),
    'lower',
  );
const ms = (name: string, values: number[]): Figure => figure(name, 'ms', values, 'lower');

/** Load average and others' share of the CPUs over one measurement. */
async function underLoad<T>(measure: () => Promise<T>): Promise<{ result: T; load: string }> {
  const before = { average: loadavg(), machine: sampleMachine([process.pid], { children: true }) };
  const result = await measure();
  const machine = machineLoad(before.machine, sampleMachine([process.pid], { children: true }));
  const average = (values: number[]) => values.map((v) => v.toFixed(2)).join(' ');
  const foreign = machine
    ? `; CPUs ${machine.busyPercent.toFixed(0)} % busy, ${machine.foreignPercent.toFixed(0)} % by other processes`
    : '';
  return { result, load: `load average (1, 5, 15 min) ${average(before.average)} before, ${average(loadavg())} after${foreign}` };
}

/** What a package's import is reported as: `import('zod')`, or `rxjs: the 7 modules cloudtether imports`. */
function importName(name: string, specifiers: readonly string[]): string {
  return specifiers.length === 1 ? `import('${specifiers[0]}')` : `${name}: the ${specifiers.length} modules cloudtether imports`;
}

async function importReport(pkg: InstalledPackage, dependencies: Map<string, string[]>, options: BenchOptions): Promise<Report> {
  const subjects = new Map<string, ImportSubject>([
    ['bare', 'bare'],
    ['cloudtether', { specifiers: ['cloudtether'] }],
  ]);
  if (!options.smoke) {
    subjects.set('ES module loader, nothing imported', { specifiers: [] });
    subjects.set('its dependencies together', { specifiers: [...dependencies.values()].flat() });
    for (const [name, specifiers] of dependencies) {
      subjects.set(importName(name, specifiers), { specifiers });
      // Where cloudtether imports parts of a package, the package's root entry too, for comparison.
      if (!specifiers.includes(name)) subjects.set(`import('${name}'), root entry`, { specifiers: [name] });
    }
  }
  const { result: results, load } = await underLoad(() =>
    inRounds(
      options.smoke ? 1 : 31,
      async () => {
        const round = new Map<string, ImportTiming>();
        // One of each per round, one after another: drift in the machine hits all alike.
        for (const [name, subject] of subjects) round.set(name, await timeImport(subject, pkg.dir));
        return round;
      },
      { warmup: options.smoke ? 0 : 2 },
    ),
  );
  const of = (name: string, pick: (t: ImportTiming) => number) => results.map((round) => pick(round.get(name)!));
  const bare = ms(
    'bare node -e',
    of('bare', (t) => t.wallMs),
  );
  const subject = ms(
    "import('cloudtether')",
    of('cloudtether', (t) => t.wallMs),
  );
  const bareCpu = ms(
    'bare node -e, CPU',
    of('bare', (t) => t.cpuMs),
  );
  const rows: Row[] = [
    { figure: bare },
    {
      figure: subject,
      baseline: bare,
      ...(!options.smoke && {
        target: { text: `≤ ${IMPORT_TARGET_RATIO}x bare node`, met: subject.median <= IMPORT_TARGET_RATIO * bare.median },
      }),
    },
    {
      figure: ms(
        'the same, above bare node',
        results.map((round) => round.get('cloudtether')!.wallMs - round.get('bare')!.wallMs),
      ),
    },
    {
      figure: ms(
        "import('cloudtether'), child's own clock",
        of('cloudtether', (t) => t.childMs),
      ),
      baseline: ms(
        "bare node -e, child's own clock",
        of('bare', (t) => t.childMs),
      ),
    },
    { figure: bareCpu },
    {
      figure: ms(
        "import('cloudtether'), CPU",
        of('cloudtether', (t) => t.cpuMs),
      ),
      baseline: bareCpu,
    },
  ];
  if (!options.smoke) {
    const others = [...subjects.keys()].filter((name) => !['bare', 'cloudtether'].includes(name));
    for (const name of others)
      rows.push({
        figure: ms(
          name,
          of(name, (t) => t.wallMs),
        ),
        baseline: bare,
      });
    for (const name of others)
      rows.push({
        figure: ms(
          `${name}, CPU`,
          of(name, (t) => t.cpuMs),
        ),
        baseline: bareCpu,
      });
  }
  return {
    title: 'Footprint: import time, installed package, plain node',
    setup: `fresh \`node -e\` children in the project the tarball was installed into, timed spawn → exit; bare node and each import alternate within a round; ${results.length} rounds`,
    rows,
    notes: [
      load,
      '"child\'s own clock" is performance.now() when the import resolved (process start → resolved); CPU is the child\'s user + system time.',
      ...(options.smoke
        ? []
        : [
            'each dependency is imported by itself, as the first thing in an ES module, by the specifiers cloudtether imports it with;',
            '"its dependencies together": all of those at once, nothing of cloudtether\'s own; "ES module loader": `--input-type=module` with nothing imported.',
          ]),
    ],
  };
}

interface Round {
  bare: ProbeResult;
  connector: ProbeResult;
  ws: ProbeResult;
  /** cloudtether imported, nothing created, and the packages alone: full runs only (smoke has seconds). */
  imported?: ProbeResult;
  deps?: ProbeResult;
}

async function heapAndStartReports(probe: ProbeRunner, dependencies: string[], options: BenchOptions): Promise<[Report, Report]> {
  const hub = createHub({ staticToken: TOKEN });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  try {
    const { result: results, load } = await underLoad(() =>
      inRounds(
        options.smoke ? 1 : 7,
        async (): Promise<Round> => ({
          bare: await probe.run('bare'),
          connector: await probe.run('connector', url, TOKEN),
          ws: await probe.run('ws', url, TOKEN),
          ...(!options.smoke && { imported: await probe.run('import'), deps: await probe.run('deps', ...dependencies) }),
        }),
        { warmup: options.smoke ? 0 : 1 },
      ),
    );
    return [heapReport(results, dependencies, options, load), startReport(results, options, load)];
  } finally {
    await hub.close();
  }
}

function heapReport(results: Round[], dependencies: string[], options: BenchOptions, load: string): Report {
  const each = (pick: (round: Round) => number) => results.map(pick);
  const bare = mib(
    'bare node',
    each((r) => r.bare.heapUsed),
  );
  const aboveBare = mib(
    'idle connector above bare node',
    each((r) => r.connector.heapUsed - r.bare.heapUsed),
  );
  const full = !options.smoke;
  return {
    title: 'Footprint: heap of one idle connector, installed package, plain node',
    setup: `heapUsed after full GCs (--expose-gc), each figure a fresh child process; the connector imports cloudtether, connects to a hub in the parent (static token, loopback) and idles 300 ms; ${results.length} rounds`,
    rows: [
      { figure: bare },
      {
        figure: mib(
          'idle connector',
          each((r) => r.connector.heapUsed),
        ),
        baseline: bare,
      },
      { figure: aboveBare, ...(full && { target: { text: `≤ ${HEAP_TARGET_MIB} MiB`, met: aboveBare.median <= HEAP_TARGET_MIB } }) },
      ...(full
        ? [
            {
              figure: mib(
                'its packages alone above bare',
                each((r) => r.deps!.heapUsed - r.bare.heapUsed),
              ),
            },
            {
              figure: mib(
                'its own modules (imported above packages)',
                each((r) => r.imported!.heapUsed - r.deps!.heapUsed),
              ),
            },
            {
              figure: mib(
                'one connector, connected (above imported)',
                each((r) => r.connector.heapUsed - r.imported!.heapUsed),
              ),
            },
          ]
        : []),
      {
        figure: mib(
          'one more connector',
          each((r) => r.connector.heapUsedTwo! - r.connector.heapUsed),
        ),
      },
      {
        figure: mib(
          'raw ws client above bare',
          each((r) => r.ws.heapUsed - r.bare.heapUsed),
        ),
      },
      {
        figure: mib(
          'idle connector rss',
          each((r) => r.connector.rss),
        ),
        baseline: mib(
          'bare node rss',
          each((r) => r.bare.rss),
        ),
      },
    ],
    notes: [
      load,
      `the long-term goal is ${HEAP_GOAL_MIB} MiB above bare node.`,
      `"its packages alone": what import('cloudtether') loads of its dependencies (${dependencies.join(', ')}), imported, nothing created.`,
      '"its own modules": import(\'cloudtether\') with nothing created, less the packages alone; "one connector, connected": the idle connector less that (its state, and what connecting loads: node\'s fetch for the settings, sockets).',
      '"one more connector": a second idle connector in the same process, i.e. the state one holds once the code is loaded.',
    ],
  };
}

function startReport(results: Round[], options: BenchOptions, load: string): Report {
  const each = (pick: (round: Round) => number) => results.map(pick);
  const wsCold = ms(
    'raw ws: socket -> connect_ack',
    each((r) => r.ws.connectMs!),
  );
  const cold = ms(
    'start() -> connected',
    each((r) => r.connector.connectMs!),
  );
  const wsProcess = ms(
    'raw ws: process start -> ack',
    each((r) => r.ws.processConnectedMs!),
  );
  const wsWarm = ms(
    'raw ws: second socket -> ack',
    each((r) => r.ws.warmConnectMs!),
  );
  return {
    title: 'Footprint: start-up to connected, installed package, plain node',
    setup: `loopback, a fresh child process per round, static token; cold = the first connection in the process; ${results.length} rounds`,
    rows: [
      { figure: wsCold },
      {
        figure: cold,
        baseline: wsCold,
        ...(!options.smoke && { target: { text: `< ${CONNECT_TARGET_MS} ms`, met: cold.median < CONNECT_TARGET_MS } }),
      },
      { figure: wsWarm },
      {
        figure: ms(
          'second connector -> connected',
          each((r) => r.connector.warmConnectMs!),
        ),
        baseline: wsWarm,
      },
      { figure: wsProcess },
      {
        figure: ms(
          'process start -> connected',
          each((r) => r.connector.processConnectedMs!),
        ),
        baseline: wsProcess,
      },
      {
        figure: ms(
          'import cloudtether (in the probe)',
          each((r) => r.connector.importMs!),
        ),
        baseline: ms(
          'import ws',
          each((r) => r.ws.importMs!),
        ),
      },
    ],
    notes: [load],
  };
}

function sizeReport(pkg: InstalledPackage, options: BenchOptions): Report {
  const size = (name: string, unit: 'kB' | 'MB', bytes: number): Figure => figure(name, unit, [bytes / (unit === 'kB' ? kB : MB)], 'lower');
  const tarball = size('tarball (npm pack)', 'kB', pkg.tarball.bytes);
  const installed = size('node_modules, du', 'MB', pkg.install.diskBytes);
  const own = pkg.install.byPackage.find((p) => p.name === 'cloudtether');
  const largest = pkg.install.byPackage
    .slice(0, 6)
    .map((p) => `${p.name} ${(p.diskBytes / MB).toFixed(1)} MB (${(p.apparentBytes / MB).toFixed(1)} MB in ${p.files} files)`);
  const judge = (met: boolean, text: string) => (options.smoke ? {} : { target: { text, met } });
  return {
    title: 'Footprint: what a host installs',
    setup: `\`npm install <tarball> --omit=dev --prefer-offline\` into an empty project under the OS temp dir; sizes in decimal kB/MB as npm prints them; one install (sizes do not vary between runs)`,
    rows: [
      { figure: tarball, ...judge(tarball.median <= TARBALL_TARGET_KB, `≤ ${TARBALL_TARGET_KB} kB`) },
      { figure: size('unpacked', 'kB', pkg.tarball.unpackedBytes) },
      { figure: installed, ...judge(installed.median <= INSTALL_TARGET_MB, `≤ ${INSTALL_TARGET_MB} MB`) },
      { figure: size('node_modules, apparent size (du --apparent-size)', 'MB', pkg.install.apparentBytes) },
      ...(own ? [{ figure: size('of which cloudtether, du', 'MB', own.diskBytes) }] : []),
    ],
    notes: [
      ...(pkg.declarations ? [] : ['smoke: built without the declarations (.d.ts), so these sizes understate the package.']),
      `${pkg.tarball.files} files in the tarball; ${pkg.install.packages} packages, ${pkg.install.files} files installed, in ${(pkg.install.ms / 1000).toFixed(1)} s.`,
      ...(process.env.BENCH_KEEP_SCRATCH ? [`the project is kept (BENCH_KEEP_SCRATCH): ${pkg.dir}`] : []),
      `largest: ${largest.join(', ')}.`,
      '"du" counts allocated blocks (on this filesystem: what the install takes); many small files make it larger than the sum of their sizes.',
    ],
  };
}
