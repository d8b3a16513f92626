/**
 * Hub cluster: one hub node against three on one Redis (each node a `cloudtether hub --redis`
 * process, test/support/cluster.ts), real connectors in the bench process connected to a node
 * each, executions dispatched by REST. Measured: executions/s with the work dispatched on any
 * node, the hub CPU per execution (all nodes' /proc CPU) when it is dispatched on the node that
 * holds the device and when on another, the Redis commands per execution (`INFO commandstats`
 * deltas), and the Redis memory per idle device session (`INFO memory` over idle sessions). The
 * baselines, in the same run: one node for the rate and the same-node figures, same-node for the
 * cross-node ones.
 */
import { Redis } from 'ioredis';
import { CLUSTER_TENANT, CLUSTER_TOKEN, type HubCluster, type HubNode, openCluster } from '../../test/support/cluster.ts';
import { dispatchEcho } from '../../test/support/cluster-load.ts';
import { operatorCall } from '../../test/support/operator-rest.ts';
import { machineLoad, sampleMachine } from '../support/machine-load.ts';
import { type BenchOptions, figure, inRounds, type Report, type Row } from '../support/rounds.ts';
import { type Fleet, startFleet } from './fleet.ts';
import { commandDeltas, usedMemory } from './redis-stats.ts';

const TARGET_CROSS_CPU_RATIO = 2;
const TARGET_COMMANDS_PER_EXECUTION = 12;
const TARGET_BYTES_PER_IDLE_SESSION = 2 * 1024;

interface Sizes {
  executions: number;
  rounds: number;
  warmup: number;
  /** Executions dispatched and not yet ended, at most. */
  window: number;
  /** Devices with work (spread over the nodes in turn). */
  devices: number;
  idleSessions: number;
}

const FULL: Sizes = { executions: 1_000, rounds: 3, warmup: 1, window: 128, devices: 6, idleSessions: 500 };
const SMOKE: Sizes = { executions: 150, rounds: 1, warmup: 0, window: 32, devices: 3, idleSessions: 30 };

/** Where each execution is dispatched: on any node in turn, on the device's node, or on the node after it. */
type Placement = 'any' | 'same' | 'cross';

interface Run {
  perSecond: number;
  cpuMicrosPerExecution: number;
  commandsPerExecution: number;
  /** Round trips: the scripts called (`EVALSHA`, `EVAL`) per execution; their inner commands count in `commandsPerExecution`. */
  scriptsPerExecution: number;
  /** Calls per command, per execution. */
  byCommand: Map<string, number>;
  /** Redis `used_memory` growth per execution: what each one leaves there (its copy is kept 24 h). */
  bytesPerExecution: number;
}

/**
 * Dispatches one execution by REST. A request the node's socket dropped (a kept-alive connection
 * the server closed as it was reused) is sent again with the same id: 409 `duplicate_request`
 * then says the first one was taken.
 */
async function dispatch(node: HubNode, deviceId: string, requestId: string, n: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await dispatchEcho(node.base, deviceId, requestId, n);
      if (answer.status === 202 || (attempt > 1 && answer.status === 409 && answer.body.error === 'duplicate_request')) return;
      throw new Error(`dispatch ${requestId} on ${node.id}: ${answer.status} ${JSON.stringify(answer.body)}`);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof TypeError)) throw error; // fetch's network failure is a TypeError
    }
  }
}

/** Dispatches `count` executions by REST, at most `window` unfinished, and measures the run. */
async function drive(cluster: HubCluster, fleet: Fleet, redis: Redis, placement: Placement, label: string, sizes: Sizes): Promise<Run> {
  const nodes = cluster.live();
  const indexOf = new Map(nodes.map((node, i) => [node.id, i]));
  const startEnded = fleet.ended();
  const commandsBefore = await redis.info('commandstats');
  const memoryBefore = usedMemory(await redis.info('memory'));
  const cpuBefore = nodes.reduce((sum, node) => sum + cluster.cpuMicros(node.id), 0);
  const started = performance.now();
  const posts: Array<Promise<void>> = [];
  for (let n = 0; n < sizes.executions; n++) {
    await fleet.whenEnded(startEnded + n - sizes.window);
    const device = fleet.devices[n % fleet.devices.length]!;
    const home = indexOf.get(device.node)!;
    // `any` walks the nodes against the devices' order: a third of the work lands on the device's own node, as behind a balancer.
    const on =
      placement === 'any'
        ? (n + Math.floor(n / fleet.devices.length)) % nodes.length
        : placement === 'same'
          ? home
          : (home + 1) % nodes.length;
    const post = dispatch(nodes[on]!, device.id, `${label}-${n}`, n);
    post.catch(() => {}); // awaited below, with the others; not an unhandled rejection meanwhile
    posts.push(post);
  }
  await Promise.all(posts);
  await fleet.whenEnded(startEnded + sizes.executions);
  const seconds = (performance.now() - started) / 1000;
  // The devices' last usage reports and acknowledgements settle before Redis and the CPU are read.
  while (fleet.devices.some(({ connector }) => connector.executions.outboxDepth > 0)) await new Promise((resolve) => setImmediate(resolve));
  const cpu = nodes.reduce((sum, node) => sum + cluster.cpuMicros(node.id), 0) - cpuBefore;
  const deltas = commandDeltas(commandsBefore, await redis.info('commandstats'));
  let commands = 0;
  for (const calls of deltas.values()) commands += calls;
  const byCommand = new Map([...deltas].map(([command, calls]) => [command, calls / sizes.executions]));
  const bytes = usedMemory(await redis.info('memory')) - memoryBefore;
  return {
    perSecond: sizes.executions / seconds,
    cpuMicrosPerExecution: cpu / sizes.executions,
    commandsPerExecution: commands / sizes.executions,
    scriptsPerExecution: ((deltas.get('evalsha') ?? 0) + (deltas.get('eval') ?? 0)) / sizes.executions,
    byCommand,
    bytesPerExecution: bytes / sizes.executions,
  };
}

/** Starts a cluster of `nodes` and a fleet spread over it; runs `measure`; stops both. */
async function withCluster<T>(
  nodes: number,
  sizes: Sizes,
  measure: (cluster: HubCluster, fleet: Fleet, redis: Redis) => Promise<T>,
): Promise<T> {
  const cluster = await openCluster({ nodes, logLevel: 'error' });
  const redis = new Redis(cluster.redis.url, { lazyConnect: true });
  let fleet: Fleet | undefined;
  try {
    await redis.connect();
    const spread = Array.from({ length: sizes.devices }, (_, i) => cluster.nodes[i % nodes]!);
    fleet = await startFleet(
      spread.map((node) => ({ node: node.id, url: node.url })),
      { token: CLUSTER_TOKEN, tenantId: CLUSTER_TENANT },
    );
    return await measure(cluster, fleet, redis);
  } finally {
    await fleet?.stop();
    redis.disconnect();
    await cluster.stop();
  }
}

/** Redis memory per idle session: `used_memory` before and after `count` idle devices connect, spread over the nodes. */
async function idleSessionBytes(cluster: HubCluster, redis: Redis, count: number): Promise<number> {
  const before = usedMemory(await redis.info('memory'));
  const spread = Array.from({ length: count }, (_, i) => cluster.nodes[i % cluster.nodes.length]!);
  const idle = await startFleet(
    spread.map((node) => ({ node: node.id, url: node.url })),
    { token: CLUSTER_TOKEN, tenantId: CLUSTER_TENANT, prefix: 'idle', withTool: false },
  );
  try {
    // Every session is open at its node (its presence written) before Redis is read.
    while (idle.devices.some((device) => !cluster.node(device.node).devices.has(device.id)))
      await new Promise((resolve) => setImmediate(resolve));
    return (usedMemory(await redis.info('memory')) - before) / count;
  } finally {
    await idle.stop();
  }
}

/** A run's commands per execution, most called first: `hsetnx 3.0, evalsha 2.0, …` (a script's inner commands counted too). */
function breakdown(run: Run): string {
  return [...run.byCommand]
    .sort((a, b) => b[1] - a[1])
    .filter(([, calls]) => calls >= 0.01)
    .map(([command, calls]) => `${command} ${calls.toFixed(2)}`)
    .join(', ');
}

export async function run(options: BenchOptions): Promise<Report[]> {
  const sizes = options.smoke ? SMOKE : FULL;
  const load = sampleMachine([process.pid]);
  let round = 0;
  const one = await withCluster(1, sizes, (cluster, fleet, redis) =>
    inRounds(sizes.rounds, () => drive(cluster, fleet, redis, 'same', `one-${round++}`, sizes), { warmup: sizes.warmup }),
  );
  const three = await withCluster(3, sizes, async (cluster, fleet, redis) => {
    const rounds = await inRounds(
      sizes.rounds,
      async () => ({
        any: await drive(cluster, fleet, redis, 'any', `any-${round++}`, sizes),
        same: await drive(cluster, fleet, redis, 'same', `same-${round++}`, sizes),
        cross: await drive(cluster, fleet, redis, 'cross', `cross-${round++}`, sizes),
      }),
      { warmup: sizes.warmup },
    );
    const idle = await idleSessionBytes(cluster, redis, sizes.idleSessions);
    // Everything the runs dispatched is readable from every node: one spot check, so a broken cluster cannot pass for a fast one.
    const last = `cross-${round - 1}-${sizes.executions - 1}`;
    for (const node of cluster.nodes) {
      const answer = await operatorCall<{ status: string }>(node.base, 'GET', `/v1/executions/${last}`);
      if (answer.body.status !== 'completed') throw new Error(`${last} on ${node.id}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return { rounds, idle };
  });
  const machine = machineLoad(load, sampleMachine([process.pid]));
  const of = (runs: Run[], pick: (r: Run) => number) => runs.map(pick);
  const threeOf = (placement: Placement) => three.rounds.map((r) => r[placement]);
  const rate = (r: Run) => r.perSecond;
  const cpu = (r: Run) => r.cpuMicrosPerExecution;
  const commands = (r: Run) => r.commandsPerExecution;
  const sameCpu = figure('hub CPU per execution, same node (3 nodes)', 'µs', of(threeOf('same'), cpu), 'lower');
  const crossCpu = figure('hub CPU per execution, cross-node (3 nodes)', 'µs', of(threeOf('cross'), cpu), 'lower');
  const sameCommands = figure('Redis commands per execution, same node', 'cmds', of(threeOf('same'), commands), 'lower');
  const crossCommands = figure('Redis commands per execution, cross-node', 'cmds', of(threeOf('cross'), commands), 'lower');
  const scripts = (r: Run) => r.scriptsPerExecution;
  const sameScripts = figure('Redis scripts called (EVALSHA) per execution, same node', 'calls', of(threeOf('same'), scripts), 'lower');
  const idle = figure('Redis memory per idle session', 'B', [three.idle], 'lower');
  const kept = (r: Run) => r.bytesPerExecution;
  const judge = (met: boolean, text: string) => (options.smoke ? {} : { target: { text, met } });
  const rows: Row[] = [
    {
      figure: figure('executions/s, 3 nodes, dispatched on any node', '/s', of(threeOf('any'), rate), 'higher'),
      baseline: figure('1 node', '/s', of(one, rate), 'higher'),
    },
    { figure: sameCpu, baseline: figure('1 node', 'µs', of(one, cpu), 'lower') },
    {
      figure: crossCpu,
      baseline: sameCpu,
      ...judge(crossCpu.median <= TARGET_CROSS_CPU_RATIO * sameCpu.median, `≤ ${TARGET_CROSS_CPU_RATIO}x same node`),
    },
    {
      figure: sameCommands,
      baseline: figure('1 node', 'cmds', of(one, commands), 'lower'),
      ...judge(sameCommands.median <= TARGET_COMMANDS_PER_EXECUTION, `≤ ${TARGET_COMMANDS_PER_EXECUTION}`),
    },
    {
      figure: crossCommands,
      baseline: sameCommands,
      ...judge(crossCommands.median <= TARGET_COMMANDS_PER_EXECUTION, `≤ ${TARGET_COMMANDS_PER_EXECUTION}`),
    },
    { figure: sameScripts, baseline: figure('1 node', 'calls', of(one, scripts), 'lower') },
    {
      figure: figure('Redis scripts called (EVALSHA) per execution, cross-node', 'calls', of(threeOf('cross'), scripts), 'lower'),
      baseline: sameScripts,
    },
    {
      figure: figure('Redis memory per execution (cross-node)', 'B', of(threeOf('cross'), kept), 'lower'),
      baseline: figure('1 node', 'B', of(one, kept), 'lower'),
    },
    { figure: idle, ...judge(idle.median <= TARGET_BYTES_PER_IDLE_SESSION, `≤ ${TARGET_BYTES_PER_IDLE_SESSION / 1024} KiB`) },
  ];
  return [
    {
      title: `Hub cluster: 1 node vs 3 nodes on one Redis`,
      setup:
        `${sizes.executions.toLocaleString('en')} executions per round (echo tool, ${sizes.window} in flight) over ${sizes.devices} real connectors in the bench process, ` +
        `each node a \`cloudtether hub --redis\` process (Redis with appendfsync always); dispatched by REST; hub CPU = all nodes' /proc CPU / executions; ` +
        `Redis commands from INFO commandstats; ${sizes.warmup} warm-up + ${sizes.rounds} rounds; idle memory over ${sizes.idleSessions} sessions`,
      rows,
      notes: [
        `Redis commands per execution, last round, 1 node: ${breakdown(one.at(-1)!)}`,
        `same node (3 nodes): ${breakdown(three.rounds.at(-1)!.same)}`,
        `cross-node (3 nodes): ${breakdown(three.rounds.at(-1)!.cross)}`,
        machine
          ? `machine during the run: ${machine.busyPercent.toFixed(0)}% busy, other processes ${machine.foreignPercent.toFixed(0)}% of all cores (the nodes count as other processes here)`
          : 'machine load: not measured (no /proc)',
      ],
    },
  ];
}
