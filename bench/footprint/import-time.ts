/**
 * Process start to `import('cloudtether')` resolved, plain node, in the project the package was
 * installed into: each figure is a fresh `node -e` child timed from spawn to exit by this
 * process, against a bare `node -e` in the same rounds. Every child prints its own clock
 * (`performance.now()`: ms since its start) and CPU time as it ends, so a figure can also be read
 * as CPU time, which a loaded machine bends less than the wall clock.
 */
import { spawn } from 'node:child_process';
import { plainEnv } from './package.ts';

/** What one child took. */
export interface ImportTiming {
  /** spawn → exit, as this process saw it. */
  wallMs: number;
  /** The child's own clock when it was done: process start → import resolved. */
  childMs: number;
  /** The child's user + system CPU time. */
  cpuMs: number;
}

const REPORT = 'process.stdout.write(JSON.stringify({ at: performance.now(), cpu: process.cpuUsage() }))';

/**
 * What a child imports: `bare` is `node -e` (CommonJS, as `node -e 1`); anything else is an ES
 * module (`--input-type=module`, for the top-level await) importing `specifiers` together,
 * none for the price of the ES module loader itself.
 */
export type ImportSubject = 'bare' | { specifiers: readonly string[] };

function argsFor(subject: ImportSubject): string[] {
  if (subject === 'bare') return ['-e', REPORT];
  const imports = subject.specifiers.map((specifier) => `import(${JSON.stringify(specifier)})`).join(', ');
  return ['--input-type=module', '-e', `${imports ? `await Promise.all([${imports}]); ` : ''}${REPORT}`];
}

/** Runs one child in `cwd` (where the package is installed) and times it. */
export function timeImport(subject: ImportSubject, cwd: string): Promise<ImportTiming> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, argsFor(subject), { cwd, env: plainEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const wallMs = performance.now() - start;
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`node ${argsFor(subject).join(' ')} exited with ${code ?? signal}: ${errors}`));
      const { at, cpu } = JSON.parse(output) as { at: number; cpu: { user: number; system: number } };
      resolve({ wallMs, childMs: at, cpuMs: (cpu.user + cpu.system) / 1000 });
    });
  });
}
