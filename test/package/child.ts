import { type ChildProcess, spawn } from 'node:child_process';

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A child process whose output is kept line by line, so a test can wait for a line it prints
 * (every wait bounded) and for its exit.
 *
 * @example
 * const hub = startChild('node', ['server.mjs'], { cwd });
 * const line = await hub.waitForLine('stderr', (l) => l.startsWith('listening on '), { what: 'the listening line' });
 * hub.process.kill('SIGTERM');
 * expect(await hub.waitForExit(5_000)).toEqual({ code: 0, signal: null });
 */
export class Child {
  readonly process: ChildProcess;
  readonly lines: { stdout: string[]; stderr: string[] } = { stdout: [], stderr: [] };
  readonly exited: Promise<Exit>;
  #exit: Exit | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.process = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      this.process[stream]!.setEncoding('utf8').on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop()!;
        this.lines[stream].push(...parts);
        this.#wake();
      });
      // A last line without a newline.
      this.process[stream]!.on('end', () => {
        if (partial !== '') this.lines[stream].push(partial);
        partial = '';
        this.#wake();
      });
    }
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then every byte it wrote has been read.
      this.process.on('close', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
        this.#wake();
      });
      // A spawn that failed (no such file) never exits: report it as an exit.
      this.process.on('error', (error) => {
        this.lines.stderr.push(`spawn failed: ${error.message}`);
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
        this.#wake();
      });
    });
  }

  /** Both streams so far, for a failure message. */
  get output(): string {
    return `stdout:\n${this.lines.stdout.join('\n')}\nstderr:\n${this.lines.stderr.join('\n')}`;
  }

  /** Resolves with the first line of `stream` (past or future) that `match` accepts; fails at `timeoutMs` or when the process exits first. */
  waitForLine(
    stream: 'stdout' | 'stderr',
    match: (line: string) => boolean,
    { what, timeoutMs = 15_000 }: { what: string; timeoutMs?: number },
  ): Promise<string> {
    return this.#waitFor(() => this.lines[stream].find(match), what, timeoutMs);
  }

  /** Resolves with how it ended; fails if it is still running after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<Exit> {
    return this.#waitFor(() => this.#exit, 'the process to exit', timeoutMs, false);
  }

  /** Ends it for good (SIGKILL) if it still runs: cleanup after a failed test. */
  async kill(): Promise<void> {
    if (this.#exit) return;
    this.process.kill('SIGKILL');
    await this.exited;
  }

  #waitFor<T>(found: () => T | undefined, what: string, timeoutMs: number, failOnExit = true): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = found();
        if (value !== undefined) return finish(() => resolve(value));
        if (failOnExit && this.#exit)
          finish(() => reject(new Error(`exited (${JSON.stringify(this.#exit)}) before ${what}\n${this.output}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.output}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        settle();
      };
      this.#listeners.add(check);
      check();
    });
  }

  #wake(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Starts `command` with its output kept by line (see {@link Child}). */
export function startChild(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Child {
  return new Child(command, args, options);
}

/** Runs `command` to its end within `timeoutMs` (killed after it); resolves with its exit and output. */
export async function runToEnd(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Exit & { stdout: string; stderr: string }> {
  const child = startChild(command, args, options);
  try {
    const exit = await child.waitForExit(options.timeoutMs);
    return { ...exit, stdout: child.lines.stdout.join('\n'), stderr: child.lines.stderr.join('\n') };
  } catch (error) {
    await child.kill();
    throw error;
  }
}
