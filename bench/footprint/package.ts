/**
 * The package as a host gets it: the sources compiled as `npm run build` compiles them (less the
 * source maps, which `files` leaves out), packed with `npm pack`, and installed from that tarball
 * with `npm install <tarball> --omit=dev` into an empty project under os.tmpdir(), outside the
 * repository, so nothing resolves from the repository's own node_modules. The footprint probes
 * then run in that project with plain node.
 *
 * The build goes to the scratch directory, not to the repository's dist/, so a benchmark never
 * races a build or a test run that reads dist/, and always measures the sources as they are.
 */
import { spawn } from 'node:child_process';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** What `files` in package.json may pick from, besides dist/ (npm pack applies the list). */
const PACKAGE_SOURCES = ['package.json', 'README.md', 'LICENSE', 'bin', 'docs/protocol'];

export interface DiskUsage {
  /** Sum of file sizes (`du --apparent-size`). */
  apparentBytes: number;
  /** Allocated blocks (`du`): what the install takes on this filesystem. */
  diskBytes: number;
  files: number;
}

export interface InstalledPackage {
  /** The host project: `import('cloudtether')` resolves here. */
  dir: string;
  /** Whether the declarations were built (and count in the sizes). */
  declarations: boolean;
  tarball: { path: string; bytes: number; unpackedBytes: number; files: number };
  /** The host's node_modules after the production install. */
  install: DiskUsage & { packages: number; ms: number; byPackage: Array<{ name: string } & DiskUsage> };
  /** Removes the scratch directory (kept when BENCH_KEEP_SCRATCH is set, for profiling). */
  dispose(): Promise<void>;
}

/** Runs a command to completion; rejects with its output when it fails. */
function exec(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: plainEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}:\n${stdout}${stderr}`)),
    );
  });
}

/**
 * The environment for the children: this one's without what `npm run` adds for its scripts
 * (`npm_*`, which a nested npm would read as its own configuration) and without `NODE_OPTIONS`
 * (a loader or flags there would be measured as the host's): plain node, as a host runs it.
 */
export function plainEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'NODE_OPTIONS'));
}

/** `du` in bytes: apparent size and allocated blocks, each inode once. */
export async function diskUsage(dir: string): Promise<DiskUsage> {
  const seen = new Set<number>();
  const total: DiskUsage = { apparentBytes: 0, diskBytes: 0, files: 0 };
  const walk = async (path: string): Promise<void> => {
    const stat = await lstat(path);
    if (seen.has(stat.ino)) return;
    seen.add(stat.ino);
    total.apparentBytes += stat.size;
    total.diskBytes += stat.blocks * 512;
    if (stat.isFile()) total.files += 1;
    if (stat.isDirectory()) for (const entry of await readdir(path)) await walk(join(path, entry));
  };
  await walk(dir);
  return total;
}

/** node_modules/<name> and node_modules/@scope/<name>. */
async function packageDirs(modules: string): Promise<Array<{ name: string; path: string }>> {
  const dirs: Array<{ name: string; path: string }> = [];
  for (const entry of await readdir(modules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@'))
      for (const name of await readdir(join(modules, entry))) dirs.push({ name: `${entry}/${name}`, path: join(modules, entry, name) });
    else dirs.push({ name: entry, path: join(modules, entry) });
  }
  return dirs;
}

/**
 * Builds, packs and installs the package in a fresh scratch directory. Several seconds to a
 * minute: two tsc runs and an npm install (from npm's cache where it can: --prefer-offline).
 * With `declarations: false` (smoke runs) the second tsc run, the declarations, is skipped:
 * nothing at run time reads them, only the sizes lack them.
 */
export async function installPackage({ declarations = true }: { declarations?: boolean } = {}): Promise<InstalledPackage> {
  const scratch = await mkdtemp(join(tmpdir(), 'cloudtether-footprint-'));
  const dispose = () => (process.env.BENCH_KEEP_SCRATCH ? Promise.resolve() : rm(scratch, { recursive: true, force: true }));
  try {
    const stage = join(scratch, 'stage');
    for (const source of PACKAGE_SOURCES) await cp(join(REPO, source), join(stage, source), { recursive: true });
    // npm run build, into the stage: JavaScript without maps, then declarations with their TSDoc.
    const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const outDir = join(stage, 'dist');
    await Promise.all([
      exec(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', outDir, '--sourceMap', 'false'], REPO),
      ...(declarations
        ? [
            exec(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.types.json'), '--outDir', outDir], REPO).then(() =>
              exec(process.execPath, [join(REPO, 'scripts', 'prune-declarations.mjs'), outDir], REPO),
            ),
          ]
        : []),
    ]);
    // The build is already there: `prepack` (npm run build) would rebuild the repository's dist/.
    const [packed] = JSON.parse(await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], stage)) as Array<{
      filename: string;
      size: number;
      unpackedSize: number;
      entryCount: number;
    }>;
    if (!packed) throw new Error('npm pack reported no package');
    const tarball = join(scratch, packed.filename);
    const host = join(scratch, 'host');
    await mkdir(host);
    await writeFile(
      join(host, 'package.json'),
      `${JSON.stringify({ name: 'footprint-host', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
    );
    const installStart = performance.now();
    await exec('npm', ['install', tarball, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', host], host);
    const ms = performance.now() - installStart;
    const modules = join(host, 'node_modules');
    const byPackage = await Promise.all((await packageDirs(modules)).map(async ({ name, path }) => ({ name, ...(await diskUsage(path)) })));
    return {
      dir: host,
      declarations,
      tarball: { path: tarball, bytes: packed.size, unpackedBytes: packed.unpackedSize, files: packed.entryCount },
      install: {
        ...(await diskUsage(modules)),
        packages: byPackage.length,
        ms,
        byPackage: byPackage.sort((a, b) => b.diskBytes - a.diskBytes),
      },
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** `import … from '…'`, `export … from '…'` and `import '…'` in compiled JavaScript (dynamic `import()` excluded). */
const STATIC_IMPORT = /^\s*(?:import|export)\s(?:[^;'"]*?\sfrom\s)?['"]([^'"]+)['"]/gm;

/**
 * The package specifiers `import(entry)` loads statically, by package, e.g.
 * `{ rxjs: ['rxjs/internal/Observable', …], zod: ['zod'] }`: the installed package's modules
 * followed from `entry` through their relative imports. node: builtins are left out.
 */
export async function staticImports(entry: string): Promise<Map<string, string[]>> {
  const seen = new Set<string>();
  const packages = new Map<string, Set<string>>();
  const walk = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, specifier] of (await readFile(file, 'utf8')).matchAll(STATIC_IMPORT)) {
      if (specifier!.startsWith('.')) await walk(resolve(dirname(file), specifier!));
      else if (!specifier!.startsWith('node:')) {
        const parts = specifier!.split('/');
        const name = specifier!.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
        if (!packages.has(name)) packages.set(name, new Set());
        packages.get(name)!.add(specifier!);
      }
    }
  };
  await walk(entry);
  return new Map([...packages].map(([name, specifiers]) => [name, [...specifiers].sort()]));
}
