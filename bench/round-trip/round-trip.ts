/**
 * Execution round trip: the hub side sends small tool executions to a device in another
 * process, whose handler returns at once; the clock stops when the terminal reply is back at
 * the hub side. Pipelined throughput (a window of requests in flight) and sequential latency
 * (one at a time, p50 and p99), for the runtime and, in the same run, its baselines: raw `ws`
 * moving the same frames, raw `ws` echoing one frame, and socket.io with acknowledgements.
 */
import { startChild } from '../support/child.ts';
import { benchScript, RUNTIME_FORM } from '../support/script.ts';
import { type GcStats, startGcStats } from '../support/gc-stats.ts';
import { type BenchOptions, figure, type Figure, inRounds, quantile, type Report, type Row } from '../support/rounds.ts';
import { type Contender, startServerSide } from './contenders.ts';
import { pipelined, sequential } from './drive.ts';

const CONTENDERS: Contender[] = ['runtime', 'ws-frames', 'ws-codec', 'ws-echo', 'socket.io'];
const LABEL: Record<Contender, string> = {
  runtime: 'cloudtether hub + connector',
  'ws-frames': 'raw ws, same frames',
  'ws-codec': 'raw ws, same frames, codec both ends',
  'ws-echo': 'raw ws, echo of one frame',
  'socket.io': 'socket.io with acks',
};

interface Sizes {
  rounds: number;
  /** Executions per throughput round, and how many are in flight at once. */
  pipelined: number;
  window: number;
  /** Executions per latency round, one at a time. */
  sequential: number;
}

interface Measured {
  throughput: number[];
  /** CPU time per execution while pipelined, µs: the hub side's process and the device's. */
  hubCpu: number[];
  deviceCpu: number[];
  p50: number[];
  p99: number[];
  /** Bytes allocated per execution while pipelined, each side. */
  hubAlloc: number[];
  deviceAlloc: number[];
  /** Bytes promoted per scavenge while sequential (the scavenges behind the p99), each side. */
  hubPromoted: number[];
  devicePromoted: number[];
  /** Scavenges per 1,000 sequential executions, each side. */
  hubScavenges: number[];
  deviceScavenges: number[];
}

async function measure(contender: Contender, sizes: Sizes): Promise<Measured> {
  const side = await startServerSide(contender);
  const device = await startChild(benchScript('./device.ts', import.meta.url), { args: [contender, side.url] });
  try {
    await side.deviceReady();
    const rounds = await inRounds(sizes.rounds, async () => {
      // The device's clock read outside the hub's, so neither counts the other's IPC.
      await device.call('gc.start');
      const deviceBefore = await device.cpuMicros();
      const hubGc = startGcStats();
      const hubBefore = process.cpuUsage();
      const throughput = await pipelined(side, sizes.pipelined, sizes.window);
      const hub = process.cpuUsage(hubBefore);
      const hubPipelinedGc = hubGc.stop();
      const deviceCpu = ((await device.cpuMicros()) - deviceBefore) / sizes.pipelined;
      const devicePipelinedGc = await device.call<GcStats>('gc.stop');
      await device.call('gc.start');
      const hubSequentialGc = startGcStats();
      const times = await sequential(side, sizes.sequential);
      const hubSeqGc = hubSequentialGc.stop();
      const deviceSeqGc = await device.call<GcStats>('gc.stop');
      const perScavenge = (gc: GcStats) => (gc.scavenges === 0 ? 0 : gc.promotedBytes / gc.scavenges);
      return {
        throughput,
        hubCpu: (hub.user + hub.system) / sizes.pipelined,
        deviceCpu,
        p50: quantile(times, 0.5),
        p99: quantile(times, 0.99),
        hubAlloc: hubPipelinedGc.allocatedBytes / sizes.pipelined,
        deviceAlloc: devicePipelinedGc.allocatedBytes / sizes.pipelined,
        hubPromoted: perScavenge(hubSeqGc),
        devicePromoted: perScavenge(deviceSeqGc),
        hubScavenges: (hubSeqGc.scavenges / sizes.sequential) * 1_000,
        deviceScavenges: (deviceSeqGc.scavenges / sizes.sequential) * 1_000,
      };
    });
    const of = (key: keyof Measured) => rounds.map((r) => r[key]);
    return {
      throughput: of('throughput'),
      hubCpu: of('hubCpu'),
      deviceCpu: of('deviceCpu'),
      p50: of('p50'),
      p99: of('p99'),
      hubAlloc: of('hubAlloc'),
      deviceAlloc: of('deviceAlloc'),
      hubPromoted: of('hubPromoted'),
      devicePromoted: of('devicePromoted'),
      hubScavenges: of('hubScavenges'),
      deviceScavenges: of('deviceScavenges'),
    };
  } finally {
    await device.exit();
    await side.close();
  }
}

export async function run({ smoke }: BenchOptions): Promise<Report[]> {
  const sizes: Sizes = smoke
    ? { rounds: 1, pipelined: 200, window: 64, sequential: 100 }
    : { rounds: 5, pipelined: 5_000, window: 256, sequential: 2_000 };
  const results = {} as Record<Contender, Measured>;
  for (const contender of CONTENDERS) results[contender] = await measure(contender, sizes);

  const rate = (c: Contender) => figure(LABEL[c], 'exec/s', results[c].throughput, 'higher');
  const baseline = rate('ws-frames');
  const runtimeRate = rate('runtime');
  const socketIo = rate('socket.io');
  const throughputRows: Row[] = [
    { figure: runtimeRate, baseline, ...(!smoke && { target: { text: '≥ 0.70x', met: runtimeRate.median >= 0.7 * baseline.median } }) },
    { figure: baseline },
    { figure: rate('ws-codec'), baseline },
    { figure: rate('ws-echo'), baseline },
    { figure: socketIo, baseline },
    {
      figure: { ...runtimeRate, name: `${LABEL.runtime} vs socket.io` },
      baseline: socketIo,
      ...(!smoke && { target: { text: '≥ 1.0x', met: runtimeRate.median >= socketIo.median } }),
    },
  ];

  // CPU time per execution holds better than rates on a busy machine: what each side spends.
  const cpuRows: Row[] = [];
  for (const side of ['hubCpu', 'deviceCpu'] as const) {
    const cpu = (c: Contender) => figure(`${LABEL[c]}, ${side === 'hubCpu' ? 'hub' : 'device'} side`, 'µs/exec', results[c][side], 'lower');
    const base = cpu('ws-frames');
    for (const c of CONTENDERS) cpuRows.push(c === 'ws-frames' ? { figure: base } : { figure: cpu(c), baseline: base });
    // The targets: the hub no dearer than socket.io's server, the device at most 1.2x its client.
    const limit = side === 'hubCpu' ? 1 : 1.2;
    const runtime = cpu('runtime');
    const socketIoCpu = cpu('socket.io');
    cpuRows.push({
      figure: { ...runtime, name: `${runtime.name} vs socket.io` },
      baseline: socketIoCpu,
      ...(!smoke && { target: { text: `≤ ${limit.toFixed(1)}x`, met: runtime.median <= limit * socketIoCpu.median } }),
    });
  }

  const latency = (c: Contender, q: 'p50' | 'p99') => figure(`${LABEL[c]} ${q}`, 'µs', results[c][q], 'lower');
  const latencyRows: Row[] = [];
  for (const q of ['p50', 'p99'] as const) {
    const base = latency('ws-frames', q);
    for (const c of CONTENDERS) latencyRows.push(c === 'ws-frames' ? { figure: base } : { figure: latency(c, q), baseline: base });
  }
  // The overhead of each round: the runtime's p99 less raw ws's p99 in the same round.
  const overhead: Figure = figure(
    'p99 overhead over raw ws',
    'µs',
    results.runtime.p99.map((p, i) => p - results['ws-frames'].p99[i]!),
    'lower',
  );
  latencyRows.push({ figure: overhead, ...(!smoke && { target: { text: '≤ 300 µs', met: overhead.median <= 300 } }) });
  const runtimeP50 = latency('runtime', 'p50');
  const socketIoP50 = latency('socket.io', 'p50');
  latencyRows.push({
    figure: { ...runtimeP50, name: `${runtimeP50.name} vs socket.io` },
    baseline: socketIoP50,
    ...(!smoke && { target: { text: '≤ 1.2x', met: runtimeP50.median <= 1.2 * socketIoP50.median } }),
  });

  // Allocation and what survives scavenges: the rate of scavenges and the cost of each.
  const gcRows: Row[] = [];
  const gcFigures = [
    ['deviceAlloc', 'device, allocated per exec (pipelined)', 'KiB', 1 / 1_024],
    ['hubAlloc', 'hub, allocated per exec (pipelined)', 'KiB', 1 / 1_024],
    ['devicePromoted', 'device, promoted per scavenge (sequential)', 'KiB', 1 / 1_024],
    ['hubPromoted', 'hub, promoted per scavenge (sequential)', 'KiB', 1 / 1_024],
    ['deviceScavenges', 'device, scavenges per 1,000 exec (sequential)', '', 1],
    ['hubScavenges', 'hub, scavenges per 1,000 exec (sequential)', '', 1],
  ] as const;
  for (const [key, what, unit, scale] of gcFigures) {
    const gcFigure = (c: Contender) =>
      figure(
        `${LABEL[c]}, ${what}`,
        unit,
        results[c][key].map((v) => v * scale),
        'lower',
      );
    const base = gcFigure('ws-frames');
    for (const c of CONTENDERS) gcRows.push(c === 'ws-frames' ? { figure: base } : { figure: gcFigure(c), baseline: base });
  }

  const setup = `${RUNTIME_FORM}; device in a second process on loopback; a tool that returns at once; frames 244 B down, 274/254/290/281 B up`;
  return [
    {
      title: 'Execution round trip: pipelined throughput',
      setup: `${setup}; ${sizes.pipelined} executions per round, ${sizes.window} in flight`,
      rows: throughputRows,
    },
    {
      title: 'Execution round trip: CPU per execution (pipelined)',
      setup: `${setup}; user + system time of each process over the pipelined rounds`,
      rows: cpuRows,
    },
    {
      title: 'Execution round trip: allocation and scavenges',
      setup: `${setup}; V8's heap statistics before and after every collection (bench/support/gc-stats.ts)`,
      rows: gcRows,
    },
    {
      title: 'Execution round trip: sequential latency',
      setup: `${setup}; ${sizes.sequential} executions per round, one at a time`,
      rows: latencyRows,
    },
  ];
}
