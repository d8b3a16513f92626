/**
 * Connection scale: how many idle device sessions one hub process holds, what each costs in
 * memory, how fast they open, and what their heartbeats cost in CPU. The hub runs alone in a
 * child process (so its memory is its own); the sessions are raw `ws` clients in a second
 * child speaking the real protocol (bench/scale/clients.ts). The baseline is a bare `ws`
 * server echoing every frame, loaded by the same clients with the same frames, in the same
 * run: the ratio is what the hub adds on top of the WebSocket transport.
 */
import { execFileSync } from 'node:child_process';
import { type BenchChild, startChild } from '../support/child.ts';
import { benchScript } from '../support/script.ts';
import { type MachineLoad, machineLoad, sampleMachine } from '../support/machine-load.ts';
import { type BenchOptions, figure, inRounds, median, type Report, type Row } from '../support/rounds.ts';
import type { OpenResult } from './clients.ts';
import type { ServerCpu, ServerMemory, ServerMode } from './server.ts';

/** The hub's default heartbeat interval (src/hub/core/options.ts); the clients beat at it. */
const HEARTBEAT_INTERVAL_MS = 25_000;
/** The static token the hub accepts and the clients present. */
const SCALE_TOKEN = 'bench-scale-token';
const TARGET_SESSIONS = 10_000;
const TARGET_KIB_PER_SESSION = 20;

interface Sizes {
  sessions: number;
  rounds: number;
  warmup: number;
  /** Handshakes in flight at once while opening. */
  concurrency: number;
  /** The idle window over which CPU is measured. */
  idleMs: number;
}

const FULL: Sizes = {
  sessions: Number(process.env.BENCH_SCALE_SESSIONS ?? TARGET_SESSIONS),
  rounds: 3,
  warmup: 1,
  concurrency: 200,
  idleMs: 10_000,
};
const SMOKE: Sizes = { sessions: 200, rounds: 1, warmup: 0, concurrency: 50, idleMs: 300 };

interface Measurement {
  held: number;
  open: OpenResult;
  before: ServerMemory;
  after: ServerMemory;
  cpu: ServerCpu;
  /** Heartbeats sent and answers received by the clients over the idle window. */
  traffic: { sent: number; received: number };
  /** The machine over the round: how busy, and how much of it other processes. */
  load: MachineLoad | undefined;
}

const here = (name: string) => benchScript(name, import.meta.url);

/** `BENCH_PROFILE=dir`: each server process writes a CPU profile (`node --cpu-prof`) there. */
const PROFILE_DIR = process.env.BENCH_PROFILE;

/**
 * Each process needs a descriptor per session; the default soft limit is often 1 024 and a
 * hard limit may be below what is asked. Raised per child with `prlimit` (as root, or with
 * CAP_SYS_RESOURCE) when the current limit is too low; where it cannot be, says so.
 */
function ensureDescriptors(child: BenchChild, sessions: number): void {
  // The sockets, plus what node, tsx and the IPC channel hold (about 30).
  const needed = sessions + 256;
  const limit = (flag: string) => {
    const value = execFileSync('sh', ['-c', `ulimit ${flag}`])
      .toString()
      .trim();
    return value === 'unlimited' ? Infinity : Number(value);
  };
  const soft = limit('-Sn');
  if (soft >= needed) return;
  try {
    execFileSync('prlimit', ['--pid', String(child.pid), `--nofile=${needed}:${needed}`], { stdio: 'pipe' });
  } catch {
    throw new Error(
      `scale: ${sessions} sessions need ${needed} descriptors in each process; the limit is ${soft} (hard ${limit('-Hn')}) and prlimit could not raise it (it needs CAP_SYS_RESOURCE)`,
    );
  }
}

/** One round against a fresh server process: open, hold idle, measure, drop. */
async function measure(mode: ServerMode, clients: BenchChild, sizes: Sizes): Promise<Measurement> {
  const profile = PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=scale-${mode}-${Date.now()}.cpuprofile`]
    : [];
  const server = await startChild(here('./server.ts'), { nodeFlags: ['--expose-gc', ...profile] });
  try {
    ensureDescriptors(server, sizes.sessions);
    const { url } = await server.call<{ url: string }>('start', { mode, token: SCALE_TOKEN });
    const before = await server.call<ServerMemory>('memory');
    const pids = [process.pid, server.pid, clients.pid];
    const machineBefore = sampleMachine(pids);
    const open = await clients.call<OpenResult>('open', {
      url,
      token: SCALE_TOKEN,
      count: sizes.sessions,
      concurrency: sizes.concurrency,
      intervalMs: HEARTBEAT_INTERVAL_MS,
      expectAck: mode === 'hub',
    });
    if (open.failed > 0) throw new Error(`${mode}: ${open.failed} of ${sizes.sessions} sessions failed to open: ${open.firstError}`);
    await clients.call('traffic'); // count from the idle window on
    const cpu = await server.call<ServerCpu>('cpu', { ms: sizes.idleMs });
    const traffic = await clients.call<{ sent: number; received: number }>('traffic');
    const load = machineLoad(machineBefore, sampleMachine(pids));
    const held = await server.call<number>('sessions');
    // After the idle window: every session has settled, most have sent a heartbeat.
    const after = await server.call<ServerMemory>('memory');
    return { held, open, before, after, cpu, traffic, load };
  } finally {
    // The server goes first: the side that closes first keeps each connection in TIME_WAIT for
    // a minute, and on the clients' side that would hold ephemeral ports the next round (and
    // the next benchmark) needs.
    await (PROFILE_DIR ? server.exit() : server.kill());
    await clients.call('closeAll');
  }
}

const KiB = 1024;
const perSession = (m: Measurement, key: keyof ServerMemory) => (m.after[key] - m.before[key]) / KiB / m.held;
const rate = (m: Measurement) => (m.open.opened / m.open.elapsedMs) * 1000;
const cpuPercent = (m: Measurement) => (m.cpu.cpuMs / m.cpu.wallMs) * 100;

/** The scale report: the hub against a bare ws echo server, same clients, same run. */
export async function run(options: BenchOptions): Promise<Report[]> {
  const sizes = options.smoke ? SMOKE : FULL;
  const clients = await startChild(here('./clients.ts'));
  let results: Array<Record<ServerMode, Measurement>>;
  try {
    ensureDescriptors(clients, sizes.sessions);
    // Hub and baseline alternate within each round, so drift in the machine hits both alike.
    results = await inRounds(
      sizes.rounds,
      async () => ({ hub: await measure('hub', clients, sizes), ws: await measure('ws', clients, sizes) }),
      { warmup: sizes.warmup },
    );
  } finally {
    await clients.kill();
  }
  const of = (mode: ServerMode, fn: (m: Measurement) => number) => results.map((r) => fn(r[mode]));
  const pair = (
    name: string,
    unit: string,
    fn: (m: Measurement) => number,
    better: 'higher' | 'lower',
    target?: (value: number) => Row['target'],
  ): Row => {
    const hub = figure(name, unit, of('hub', fn), better);
    const row: Row = { figure: hub, baseline: figure('raw ws', unit, of('ws', fn), better) };
    if (target && !options.smoke) row.target = target(hub.median);
    return row;
  };
  const foreign = results.flatMap((r) => [r.hub.load, r.ws.load]).flatMap((load) => (load ? [load.foreignPercent] : []));
  const heartbeatsPerSecond = median(of('hub', (m) => m.traffic.sent / (m.cpu.wallMs / 1000)));
  const answered = median(of('hub', (m) => (m.traffic.sent === 0 ? 1 : m.traffic.received / m.traffic.sent)));
  const rows: Row[] = [
    pair(
      'sessions held',
      'sessions',
      (m) => m.held,
      'higher',
      (v) => ({ text: `≥ ${TARGET_SESSIONS.toLocaleString('en')}`, met: v >= TARGET_SESSIONS }),
    ),
    pair(
      'memory per idle session (RSS)',
      'KiB',
      (m) => perSession(m, 'rss'),
      'lower',
      (v) => ({ text: `< ${TARGET_KIB_PER_SESSION} KiB`, met: v < TARGET_KIB_PER_SESSION }),
    ),
    pair('memory per idle session (heap)', 'KiB', (m) => perSession(m, 'heapUsed'), 'lower'),
    pair('connect rate', 'sessions/s', rate, 'higher'),
    pair('idle CPU with heartbeats', '% of a core', cpuPercent, 'lower'),
  ];
  return [
    {
      title: `Connection scale: ${sizes.sessions.toLocaleString('en')} idle sessions on one hub process`,
      setup:
        `hub in its own process (--expose-gc; memory = RSS/heap after full GC, with sessions minus before them, per session); ` +
        `raw ws clients in a second process, ${sizes.concurrency} handshakes in flight; idle CPU over ${sizes.idleMs / 1000} s with a heartbeat every ` +
        `${HEARTBEAT_INTERVAL_MS / 1000} s per session (the default) at random phases; baseline: bare ws server echoing the same frames; ` +
        `${sizes.warmup} warm-up + ${sizes.rounds} rounds, a fresh server process each`,
      rows,
      notes: [
        `heartbeats during the idle window: ${heartbeatsPerSecond.toFixed(0)}/s to the hub, ${(answered * 100).toFixed(1)}% answered within it`,
        `external memory per session (hub): ${median(of('hub', (m) => perSession(m, 'external'))).toFixed(2)} KiB; raw ws: ${median(of('ws', (m) => perSession(m, 'external'))).toFixed(2)} KiB`,
        ...(foreign.length > 0
          ? [
              `other processes on the machine while opening and idling: median ${median(foreign).toFixed(0)}%, max ${Math.max(...foreign).toFixed(0)}% of all cores`,
            ]
          : []),
      ],
    },
  ];
}
