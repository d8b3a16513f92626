import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { onLines } from './loopback.ts';
import { openRedis, type OwnedRedisServer, type RedisServer } from './redis-server.ts';

/** The static token every node of a test cluster accepts (`--token`). */
export const CLUSTER_TOKEN = 'cluster-token';
/** The enrolment secret every node of a test cluster accepts (`CLOUDTETHER_HUB_ENROLLMENT_SECRET`), for tenant {@link CLUSTER_TENANT}. */
export const CLUSTER_ENROLLMENT_SECRET = 'cluster-enrollment-secret';
export const CLUSTER_TENANT = 'cluster';

/** The repository: two folders up from this file, or three when it runs built (.bench-build/test/support/). */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/.bench-build/') ? '../../../' : '../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'cloudtether.js');
const DIST = join(ROOT, 'dist', 'cli', 'main.js');
/** Linux's USER_HZ: /proc counts CPU time in these ticks. */
const TICKS_PER_SECOND = 100;
/** Hang guard of a node's start: a node that has not listened by then is killed and the start fails. */
const START_GUARD_MS = 60_000;

/** One hub node: a `cloudtether hub --redis … --node-id …` process. */
export interface HubNode {
  readonly id: string;
  /** The device endpoint, `ws://127.0.0.1:<port>/v1/connect`, as the node printed it. */
  readonly url: string;
  /** `http://127.0.0.1:<port>`: the node's REST and operator routes. */
  readonly base: string;
  readonly port: number;
  /** The process now running, undefined once it exited. */
  readonly pid: number | undefined;
  readonly alive: boolean;
  /** Devices with a session open on this node (from its `session_open` / `session_close` lines). */
  readonly devices: ReadonlySet<string>;
  /** The node's log (stderr), the last 200 lines, for a failure's message. */
  readonly log: readonly string[];
}

/** What a cluster tells: `session` (node id, device id, open) on each session line, `exit` (node id) when a node's process ended. */
export type ClusterEvents = { session: [nodeId: string, deviceId: string, open: boolean]; exit: [nodeId: string] };

/** N hub nodes as separate OS processes on one redis-server. */
export interface HubCluster {
  readonly redis: RedisServer;
  readonly nodes: readonly HubNode[];
  readonly events: EventEmitter<ClusterEvents>;
  node(id: string): HubNode;
  /** The nodes whose processes are alive. */
  live(): HubNode[];
  /** The node(s) holding a session of `deviceId` now. */
  holders(deviceId: string): HubNode[];
  /** Sends `signal` (default SIGKILL) to a node and resolves once its process has exited. */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a node that exited again, on the same port and with the same id; resolves once it listens. */
  restart(id: string): Promise<HubNode>;
  /** CPU time (user + system) the node's current process used so far, µs, from /proc (10 ms ticks). */
  cpuMicros(id: string): number;
  /** Stops every node (SIGTERM, SIGKILL after 5 s) and, when the cluster started it, the redis-server. Idempotent. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** How many nodes (ids `n1`, `n2`, …), or their ids. */
  nodes: number | readonly string[];
  /** A redis-server to share; default one of the cluster's own with AOF (`appendfsync always`), stopped with it. */
  redis?: RedisServer;
  /** More environment for every node (e.g. `CLOUDTETHER_HUB_ADMIN_TOKEN`). */
  env?: Record<string, string>;
  /** More CLI arguments for every node. */
  args?: readonly string[];
  /** `--log-level` of the nodes. Default `warn`. */
  logLevel?: string;
  /** Node flags for every node process, e.g. `--cpu-prof` (which NODE_OPTIONS does not take). */
  nodeFlags?: readonly string[];
}

class NodeProcess implements HubNode {
  readonly devices = new Set<string>();
  readonly log: string[] = [];
  port = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly id: string,
    private readonly spawnArgs: (port: number) => { args: string[]; env: NodeJS.ProcessEnv; nodeFlags: readonly string[] },
    private readonly events: EventEmitter<ClusterEvents>,
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/connect`;
  }
  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get pid(): number | undefined {
    return this.alive ? this.#child?.pid : undefined;
  }
  get alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Spawns the process and resolves once it printed `hub listening on <url>`. */
  start(): Promise<void> {
    const { args, env, nodeFlags } = this.spawnArgs(this.port);
    const child = spawn(process.execPath, [...nodeFlags, CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    running.add(child);
    this.#exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        running.delete(child);
        this.devices.clear();
        this.events.emit('exit', this.id);
        resolve();
      }),
    );
    onLines(child.stdout!, (line) => this.#session(line));
    return new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`hub node ${this.id} did not listen within ${START_GUARD_MS} ms:\n${this.log.join('\n')}`));
      }, START_GUARD_MS);
      guard.unref();
      onLines(child.stderr!, (line) => {
        this.log.push(line);
        if (this.log.length > 200) this.log.shift();
        const url = /^hub listening on (ws:\/\/127\.0\.0\.1:(\d+)\/\S*)$/.exec(line);
        if (url) {
          this.port = Number(url[2]);
          clearTimeout(guard);
          resolve();
        }
      });
      void this.#exited.then(() => {
        clearTimeout(guard);
        reject(new Error(`hub node ${this.id} exited (${child.exitCode ?? child.signalCode}) before it listened:\n${this.log.join('\n')}`));
      });
    });
  }

  #session(line: string): void {
    let event: { event?: string; device_id?: string };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      return;
    }
    if (!event.device_id) return;
    if (event.event === 'session_open') {
      this.devices.add(event.device_id);
      this.events.emit('session', this.id, event.device_id, true);
    } else if (event.event === 'session_close') {
      this.devices.delete(event.device_id);
      this.events.emit('session', this.id, event.device_id, false);
    }
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.alive) this.#child!.kill(signal);
    await this.#exited;
  }

  /** SIGTERM (the hub closes its sessions and Redis), SIGKILL if it has not exited after 5 s. */
  async stop(): Promise<void> {
    if (!this.alive) return this.#exited;
    this.#child!.kill('SIGTERM');
    const late = setTimeout(() => this.#child?.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(late);
  }

  cpuMicros(): number {
    if (!this.alive) throw new Error(`hub node ${this.id} is not running`);
    const stat = readFileSync(`/proc/${this.#child!.pid}/stat`, 'utf8');
    // utime and stime: fields 14 and 15, the 12th and 13th after the command name's closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / TICKS_PER_SECOND;
  }
}

/** Every node process of every cluster in this process: killed when it exits, so none outlives a crashed test run. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts a hub cluster for code outside a test (a benchmark): the caller stops it. In a test,
 * {@link startCluster}. Runs the built CLI (`npm run build` makes dist/).
 *
 * @example
 * const cluster = await openCluster({ nodes: 3 });
 * try { … } finally { await cluster.stop(); }
 */
export async function openCluster(options: ClusterOptions): Promise<HubCluster> {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before starting a hub cluster');
  const ids = typeof options.nodes === 'number' ? Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`) : [...options.nodes];
  const ownRedis: OwnedRedisServer | undefined = options.redis ? undefined : await openRedis({ persistent: true });
  const redis = options.redis ?? ownRedis!;
  const events = new EventEmitter<ClusterEvents>();
  events.setMaxListeners(0);
  const spawnArgs = (id: string) => (port: number) => ({
    nodeFlags: options.nodeFlags ?? [],
    args: [
      'hub',
      '--json',
      '--redis',
      redis.url,
      '--node-id',
      id,
      '--port',
      String(port),
      '--token',
      CLUSTER_TOKEN,
      '--tenant-id',
      CLUSTER_TENANT,
      '--log-level',
      options.logLevel ?? 'warn',
      ...(options.args ?? []),
    ],
    env: {
      ...process.env,
      CLOUDTETHER_HUB_ENROLLMENT_SECRET: CLUSTER_ENROLLMENT_SECRET,
      CLOUDTETHER_HUB_REDIS_URL: '',
      CLOUDTETHER_HUB_TOKEN: '',
      CLOUDTETHER_HUB_USERS: '',
      CLOUDTETHER_HUB_LEDGER: '',
      CLOUDTETHER_HUB_SETTINGS: '',
      CLOUDTETHER_HUB_ADMIN_TOKEN: '',
      CLOUDTETHER_HUB_NODE_ID: '',
      ...options.env,
    },
  });
  const nodes = ids.map((id) => new NodeProcess(id, spawnArgs(id), events));
  let stopping: Promise<void> | undefined;
  const cluster: HubCluster = {
    redis,
    nodes,
    events,
    node(id) {
      const node = nodes.find((n) => n.id === id);
      if (!node) throw new Error(`no hub node ${id}`);
      return node;
    },
    live: () => nodes.filter((node) => node.alive),
    holders: (deviceId) => nodes.filter((node) => node.devices.has(deviceId)),
    kill: (id, signal = 'SIGKILL') => (cluster.node(id) as NodeProcess).kill(signal),
    async restart(id) {
      const node = cluster.node(id) as NodeProcess;
      if (node.alive) throw new Error(`hub node ${id} is still running`);
      await node.start();
      return node;
    },
    cpuMicros: (id) => (cluster.node(id) as NodeProcess).cpuMicros(),
    stop() {
      stopping ??= (async () => {
        await Promise.all(nodes.map((node) => node.stop()));
        await ownRedis?.close();
      })();
      return stopping;
    },
  };
  try {
    // All at once: the first signing key stored wins, and every node signs with it (docs/scaling.md).
    await Promise.all(nodes.map((node) => node.start()));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/**
 * Starts N hub nodes (the built CLI, separate processes) on one redis-server with AOF on, each on
 * a free loopback port, all accepting {@link CLUSTER_TOKEN} and device tokens enrolled with
 * {@link CLUSTER_ENROLLMENT_SECRET}; stopped, with their Redis, when the test ends.
 *
 * @example
 * const cluster = await startCluster({ nodes: 3 });
 * await cluster.kill('n2'); // SIGKILL
 * await cluster.restart('n2');
 */
export async function startCluster(options: ClusterOptions): Promise<HubCluster> {
  const cluster = await openCluster(options);
  onTestFinished(() => cluster.stop());
  return cluster;
}
