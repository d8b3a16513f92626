/**
 * Starts footprint probes in child processes: under tsx (how cloudtether ships: `bin/` registers
 * tsx, there is no build step) or as plain JavaScript bundled by esbuild (what a build step
 * would give), so the loader's own heap can be told apart from the connector's.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProbeResult } from './probe.ts';

const PROBE = fileURLToPath(new URL('./probe.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** How a probe runs: its script and the node flags before it. */
export interface ProbeRunner {
  name: string;
  run(mode: 'bare' | 'connector' | 'ws' | 'deps', ...args: string[]): Promise<ProbeResult>;
}

function runner(name: string, flags: string[], script: string): ProbeRunner {
  return {
    name,
    run: (mode, ...args) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--expose-gc', ...flags, script, mode, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        let output = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.once('error', reject);
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          if (code !== 0) return reject(new Error(`${name} probe ${mode} exited with ${code ?? signal}: ${output}`));
          resolve(JSON.parse(output.trim()) as ProbeResult);
        });
      }),
  };
}

/** The probe under tsx, as `node --import tsx`. */
export const tsxProbe: ProbeRunner = runner('tsx', ['--import', import.meta.resolve('tsx')], PROBE);

/**
 * The probe bundled to one ESM file per import (esbuild, packages left to `node_modules`), run by
 * plain node. The bundle goes under `.tmp/` in the repository so node resolves the packages.
 * Call `dispose` when done.
 */
export async function bundledProbe(): Promise<ProbeRunner & { dispose(): Promise<void> }> {
  const { build } = await import('esbuild');
  await mkdir(join(REPO, '.tmp'), { recursive: true });
  const outdir = await mkdtemp(join(REPO, '.tmp', 'bench-footprint-'));
  // Splitting keeps the dynamic imports in their own chunks: `bare` loads nothing but the probe.
  await build({ entryPoints: [PROBE], bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', outdir, outExtension: { '.js': '.mjs' }, logLevel: 'error' });
  return { ...runner('bundled', [], join(outdir, 'probe.mjs')), dispose: () => rm(outdir, { recursive: true, force: true }) };
}
