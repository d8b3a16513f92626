/**
 * A benchmark's second process: a benchmark script forked with an IPC channel (under tsx's
 * loader when the run is from sources, plain node when built: ./script.ts), driven by named commands (`call`) that resolve with the child's answer. The child
 * side is {@link serveCommands}. Keeps the load generator (clients, connectors) off the
 * process being measured, so one's CPU and memory do not count as the other's.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { scriptNodeFlags } from './script.ts';

/** The command every child answers by exiting. */
const EXIT = '__exit';
/** The command every child answers with its own CPU time so far. */
const CPU = '__cpu';

type Request = { id: number; command: string; args: unknown };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** A forked benchmark process, driven by commands. */
export interface BenchChild {
  readonly pid: number;
  /** Runs `command` in the child with `args`; resolves with its result, rejects with its error. */
  call<R = unknown>(command: string, args?: unknown): Promise<R>;
  /**
   * The child's user + system CPU time so far, µs, as `process.cpuUsage()` sees it in the child
   * (microseconds, where /proc counts in 10 ms ticks: a short run would read 0).
   */
  cpuMicros(): Promise<number>;
  /** Kills the child (SIGKILL) and resolves once it has exited. */
  kill(): Promise<void>;
  /** Asks the child to exit on its own (so `--cpu-prof` writes its profile); resolves once it has. */
  exit(): Promise<void>;
}

export interface ChildOptions {
  /** Extra node flags, e.g. `--expose-gc`. */
  nodeFlags?: string[];
  args?: string[];
}

/**
 * Forks `modulePath` (from {@link benchScript}) and resolves once it is ready for commands.
 *
 * @example
 * const server = await startChild(benchScript('./server.ts', import.meta.url), { nodeFlags: ['--expose-gc'] });
 * const { port } = await server.call<{ port: number }>('start', { mode: 'hub' });
 */
export async function startChild(modulePath: string, { nodeFlags = [], args = [] }: ChildOptions = {}): Promise<BenchChild> {
  const child = fork(modulePath, args, {
    execArgv: [...scriptNodeFlags(), ...nodeFlags],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    for (const { reject } of waiting.values()) reject(new Error(`bench child exited (${code ?? signal}) with a command pending`));
    waiting.clear();
  });
  child.on('message', (reply: Reply) => {
    const entry = waiting.get(reply.id);
    if (!entry) return;
    waiting.delete(reply.id);
    if (reply.ok) entry.resolve(reply.value);
    else entry.reject(new Error(reply.error));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve()); // the child's first message says it is ready
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench child exited (${code}) before it was ready`)));
  });
  const call = <R>(command: string, args?: unknown): Promise<R> => {
    const id = ++nextId;
    return new Promise<R>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, command, args } satisfies Request);
    });
  };
  return {
    pid: child.pid!,
    call,
    cpuMicros: () => call<number>(CPU),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async exit() {
      if (child.exitCode === null && child.signalCode === null) child.send({ id: 0, command: EXIT, args: undefined } satisfies Request);
      await exited;
    },
  };
}

/** Is this process a bench child (forked with an IPC channel)? */
function channelOf(proc: NodeJS.Process): ChildProcess['send'] {
  if (!proc.send) throw new Error('not a bench child: no IPC channel');
  return proc.send.bind(proc) as ChildProcess['send'];
}

function ownCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * The child side: answers each command with its handler's result, then tells the parent it is
 * ready. A handler's rejection goes back as the error of `call`.
 */
export function serveCommands(handlers: Record<string, (args: never) => unknown>): void {
  const send = channelOf(process);
  process.on('message', (request: Request) => {
    if (request.command === EXIT) process.exit(0);
    const handler = request.command === CPU ? ownCpuMicros : handlers[request.command];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${request.command}`);
        return handler(request.args as never);
      })
      .then(
        (value) => send({ id: request.id, ok: true, value } satisfies Reply),
        (error: unknown) =>
          send({
            id: request.id,
            ok: false,
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          } satisfies Reply),
      );
  });
  // Without the parent, a child must not linger.
  process.on('disconnect', () => process.exit(0));
  send({ ready: true });
}
