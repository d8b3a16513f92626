/**
 * Starts footprint probes in child processes with plain node, in the project the package was
 * installed into (package.ts): the probe is bundled to one ESM file per import (esbuild, every
 * package left to that project's node_modules) and written there, so `cloudtether` resolves to
 * the installed tarball, never to the repository.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { plainEnv } from './package.ts';
import type { ProbeResult } from './probe.ts';
import { benchScript } from '../support/script.ts';

const PROBE = benchScript('./probe.ts', import.meta.url);

/** How a probe runs: its script and the node flags before it. */
export interface ProbeRunner {
  run(mode: 'bare' | 'connector' | 'ws' | 'import' | 'deps', ...args: string[]): Promise<ProbeResult>;
}

/** Bundles the probe into `hostDir` and returns a runner for it (`node --expose-gc probe.mjs`, cwd `hostDir`). */
export async function installedProbe(hostDir: string): Promise<ProbeRunner> {
  const { build } = await import('esbuild');
  const outdir = join(hostDir, 'footprint-probe');
  // Splitting keeps the dynamic imports in their own chunks: `bare` loads nothing but the probe.
  await build({
    entryPoints: [PROBE],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'error',
  });
  const script = join(outdir, 'probe.mjs');
  return {
    run: (mode, ...args) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--expose-gc', script, mode, ...args], {
          cwd: hostDir,
          env: plainEnv(),
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let output = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          if (code !== 0) return reject(new Error(`probe ${mode} exited with ${code ?? signal}: ${output}`));
          resolve(JSON.parse(output.trim()) as ProbeResult);
        });
      }),
  };
}
