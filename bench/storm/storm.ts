/**
 * Reconnect storm: a fleet of real connectors on one hub, and the hub restarts, gracefully
 * (close 1012) or as a crash (sockets dropped without a close frame, listening again on the same
 * port). Measured at the hub, on its clock: how long until every device is back, and the
 * busiest 100 ms of reconnects. The baseline is the same fleet without jitter (no restart or
 * drop spread, a 1 ms backoff base), in the same run: the ratio is what jitter buys. The fleet
 * shares the 2 cores with the hub; the notes say how busy they were (a saturated fleet
 * reconnects slower than separate devices would, which flattens the baseline's peak).
 */
import { cpus } from 'node:os';
import type { BackoffPolicyInput } from '../../src/machines/backoff.ts';
import { type BenchChild, startChild } from '../support/child.ts';
import { benchScript } from '../support/script.ts';
import { type MachineLoad, machineLoad, sampleMachine } from '../support/machine-load.ts';
import { type BenchOptions, figure, inRounds, median, type Report, type Row } from '../support/rounds.ts';
import type { FleetArgs } from './connectors.ts';
import { busiestWindow, histogram } from './spread.ts';
import { StormHub, type StormKind } from './storm-hub.ts';

const TOKEN = 'bench-storm-token';
const WINDOW_MS = 100;
/** Target: no 100 ms window holds more than this share of the fleet. */
const TARGET_PEAK_SHARE = 0.1;
/** How long the crashed hub stays down before a fresh one listens on the port again. */
const CRASH_DOWN_MS = Number(process.env.BENCH_STORM_CRASH_DOWN_MS ?? 0);

interface Sizes {
  connectors: number;
  /** Connector processes: 2 cores, one hub process, so at most 2. */
  processes: number;
  rounds: number;
  warmup: number;
  /**
   * The fleet counts as stable (its attempt count reset, the next drop retried as after a long
   * uptime) after this long: shortened from the default 30 s so rounds need not wait, and
   * waited out before each storm, as a fleet connected for hours would be.
   */
  stableAfterMs: number;
  /** Backoff overrides of the jittered fleet: none at full size (the defaults are measured). */
  jitter: BackoffPolicyInput;
}

const FULL: Sizes = { connectors: 1_000, processes: 2, rounds: 3, warmup: 1, stableAfterMs: 1_000, jitter: {} };
// Seconds, not figures: short spreads keep each storm under a second.
const SMOKE: Sizes = {
  connectors: 50,
  processes: 1,
  rounds: 1,
  warmup: 0,
  stableAfterMs: 200,
  jitter: { restartSpreadMs: 500, dropSpreadMs: 500 },
};

type FleetKind = 'jitter' | 'no-jitter';
const NO_JITTER: BackoffPolicyInput = { restartSpreadMs: 0, dropSpreadMs: 0, baseMs: 1, capMs: 50 };
function backoffOf(fleet: FleetKind, sizes: Sizes): BackoffPolicyInput {
  const stable = { stableAfterMs: sizes.stableAfterMs };
  // No jitter: no spread after 1012 or a drop, retries within 1-50 ms, so everyone is back at once.
  return fleet === 'jitter' ? { ...sizes.jitter, ...stable } : { ...stable, ...NO_JITTER };
}

interface Storm {
  /** From the restart's start to the last device's new session. */
  allBackMs: number;
  /** From the restart's start until the hub listened again (the closing handshakes, or the crash's teardown). */
  downMs: number;
  busiest: number;
  /** Arrival times since the restart's start. */
  times: number[];
  /** CPU time the connector processes, and the hub's process, spent from the restart to the last return. */
  fleetCpuMs: number;
  hubCpuMs: number;
  /** Wall time between the CPU samples. */
  cpuWallMs: number;
  /** The machine during the storm: how busy, and how much of it other processes. */
  load: MachineLoad | undefined;
}

const here = (name: string) => benchScript(name, import.meta.url);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`storm: timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** One storm: wait until the fleet is stable, restart the hub, time every device's return. */
async function storm(hub: StormHub, fleet: BenchChild[], kind: StormKind, sizes: Sizes): Promise<Storm> {
  const { connectors } = sizes;
  await until('the whole fleet', () => hub.sessions() === connectors);
  await sleep(sizes.stableAfterMs * 1.5);
  const fleetCpu = async () => (await Promise.all(fleet.map((child) => child.cpuMicros()))).reduce((a, b) => a + b, 0) / 1000;
  const fleetBefore = await fleetCpu();
  const cpuStart = performance.now();
  const pids = [process.pid, ...fleet.map((child) => child.pid)];
  const machineBefore = sampleMachine(pids);
  hub.watch();
  const hubBefore = process.cpuUsage();
  const start = performance.now();
  await hub.restart(kind, kind === 'crash' ? CRASH_DOWN_MS : 0);
  const downMs = performance.now() - start;
  await until(`${connectors} devices back after a ${kind}`, () => hub.opened().size === connectors);
  const hubCpu = process.cpuUsage(hubBefore);
  const load = machineLoad(machineBefore, sampleMachine(pids));
  const fleetCpuMs = (await fleetCpu()) - fleetBefore;
  const cpuWallMs = performance.now() - cpuStart;
  const times = [...hub.opened().values()].map((t) => t - start);
  return {
    allBackMs: Math.max(...times),
    downMs,
    busiest: busiestWindow(times, WINDOW_MS),
    times,
    fleetCpuMs,
    hubCpuMs: (hubCpu.user + hubCpu.system) / 1000,
    cpuWallMs,
    load,
  };
}

/** Starts a fleet with `backoff`, runs the rounds of both storms on it, and stops it. */
async function stormsOf(fleet: FleetKind, sizes: Sizes): Promise<Array<Record<StormKind, Storm>>> {
  const hub = await StormHub.start(TOKEN);
  const children: BenchChild[] = [];
  try {
    for (let p = 0; p < sizes.processes; p++) children.push(await startChild(here('./connectors.ts')));
    const share = Math.ceil(sizes.connectors / sizes.processes);
    await Promise.all(
      children.map((child, p) => {
        const args: FleetArgs = {
          url: hub.url,
          token: TOKEN,
          first: p * share,
          count: Math.min(share, sizes.connectors - p * share),
          backoff: backoffOf(fleet, sizes),
        };
        return child.call('start', args);
      }),
    );
    return await inRounds(
      sizes.rounds,
      async () => ({ restart: await storm(hub, children, 'restart', sizes), crash: await storm(hub, children, 'crash', sizes) }),
      {
        warmup: sizes.warmup,
      },
    );
  } finally {
    await Promise.all(children.map((child) => child.call('stop').catch(() => undefined)));
    await Promise.all(children.map((child) => child.kill()));
    await hub.close();
  }
}

function foreignNote(results: Array<Record<StormKind, Storm>>): string {
  const foreign = results.flatMap((r) => [r.restart.load, r.crash.load]).flatMap((load) => (load ? [load.foreignPercent] : []));
  if (foreign.length === 0) return 'other processes on the machine: not measured (no /proc)';
  return `other processes on the machine during the storms: median ${median(foreign).toFixed(0)}%, max ${Math.max(...foreign).toFixed(0)}% of all cores`;
}

const overrides = (policy: BackoffPolicyInput) => (Object.keys(policy).length === 0 ? '' : ` but ${JSON.stringify(policy)}`);

/** The storm report: the default backoff against no jitter, both restart kinds, same run. */
export async function run(options: BenchOptions): Promise<Report[]> {
  const sizes = options.smoke ? SMOKE : FULL;
  const jitter = await stormsOf('jitter', sizes);
  const flat = await stormsOf('no-jitter', sizes);
  const n = sizes.connectors;
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const kind of ['restart', 'crash'] as const) {
    const label = kind === 'restart' ? 'graceful restart (1012)' : `crash (no close frame, down ${CRASH_DOWN_MS} ms)`;
    const of = (results: typeof jitter, fn: (s: Storm) => number) => results.map((r) => fn(r[kind]));
    rows.push({
      figure: figure(
        `${label}: all back`,
        's',
        of(jitter, (s) => s.allBackMs / 1000),
        'lower',
      ),
      baseline: figure(
        'no jitter',
        's',
        of(flat, (s) => s.allBackMs / 1000),
        'lower',
      ),
    });
    const peak = figure(
      `${label}: busiest ${WINDOW_MS} ms`,
      '% of fleet',
      of(jitter, (s) => (s.busiest / n) * 100),
      'lower',
    );
    const row: Row = {
      figure: peak,
      baseline: figure(
        'no jitter',
        '% of fleet',
        of(flat, (s) => (s.busiest / n) * 100),
        'lower',
      ),
    };
    if (!options.smoke) row.target = { text: `≤ ${TARGET_PEAK_SHARE * 100}%`, met: peak.max <= TARGET_PEAK_SHARE * 100 };
    rows.push(row);
    // The round whose peak is the median, as a distribution.
    const typical = (results: typeof jitter) => results.map((r) => r[kind]).sort((a, b) => a.busiest - b.busiest)[results.length >> 1]!;
    notes.push(`${label}, reconnects per 500 ms (median round), jitter: ${histogram(typical(jitter).times, 500)}`);
    notes.push(`${label}, reconnects per 500 ms (median round), no jitter: ${histogram(typical(flat).times, 500)}`);
    notes.push(
      `${label}, busiest ${WINDOW_MS} ms per round: jitter ${of(jitter, (s) => s.busiest).join(', ')}; no jitter ${of(flat, (s) => s.busiest).join(', ')} (of ${n})`,
    );
    // Two cores hold the hub and the fleet: where they are busy all storm long, the fleet's own
    // CPU, not its backoff, sets the pace, and a peak is lower than separate devices would make.
    // (The hub's share includes this process's polling and IPC.)
    const busy = (s: Storm) => ((s.fleetCpuMs + s.hubCpuMs) / s.cpuWallMs / cpus().length) * 100;
    notes.push(
      `${label}, CPU per reconnect (median): fleet ${median(of(jitter, (s) => s.fleetCpuMs / n)).toFixed(2)} ms, hub ${median(of(jitter, (s) => s.hubCpuMs / n)).toFixed(2)} ms; ` +
        `all cores busy (fleet + hub) until all were back: jitter ${median(of(jitter, busy)).toFixed(0)}%, no jitter ${median(of(flat, busy)).toFixed(0)}%`,
    );
  }
  return [
    {
      title: `Reconnect storm: ${n.toLocaleString('en')} connectors, the hub restarts`,
      setup:
        `real connectors (ws adapter, real timers) in ${sizes.processes} process(es), hub in the bench process timing each device's first new session; ` +
        `jitter = default backoff${overrides(sizes.jitter)}; no jitter = ${JSON.stringify(NO_JITTER)}; ` +
        `fleet stable (stableAfterMs ${sizes.stableAfterMs} ms, waited out) before each storm; ${sizes.warmup} warm-up + ${sizes.rounds} rounds of each kind; ` +
        `the target is judged on the worst round`,
      rows,
      notes: [
        ...notes,
        `hub listening again after (median, all rounds): restart ${median([...jitter, ...flat].map((r) => r.restart.downMs)).toFixed(0)} ms, crash ${median([...jitter, ...flat].map((r) => r.crash.downMs)).toFixed(0)} ms`,
        foreignNote([...jitter, ...flat]),
      ],
    },
  ];
}
