/**
 * Builds the benchmarks to run on plain node against the package as it ships: every file of
 * bench/ (and of test/support/, which the cluster benchmark starts its nodes with) becomes
 * JavaScript in .bench-build/ (esbuild, one output per source, nothing
 * bundled), with its imports of src/*.ts pointed at the compiled dist/*.js (`npm run build`
 * makes dist/) and its own relative imports at the sibling .js files. Packages stay imports of
 * node_modules. `npm run bench` runs this, then `node .bench-build/bench/main.js`.
 *
 *   node scripts/build-bench.mjs [outdir]   default .bench-build
 */
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(process.argv[2] ?? join(root, '.bench-build'));
const src = join(root, 'src') + sep;

/** The .ts files under `dir` (of the repository). */
const sourcesIn = (dir) =>
  readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name));

// The cluster benchmark starts its hub nodes with the tests' support (test/support/cluster.ts).
const entryPoints = [...sourcesIn('bench'), ...sourcesIn(join('test', 'support'))];

/** Where esbuild writes the output of `source` (outbase is the repository). */
const outputOf = (source) => join(outdir, relative(root, source)).replace(/\.ts$/, '.js');

/** A relative specifier from `fromFile` to `toFile`, as an ES module import needs it. */
const specifier = (fromFile, toFile) => {
  const path = relative(dirname(fromFile), toFile).split(sep).join('/');
  return path.startsWith('.') ? path : `./${path}`;
};

const repoImports = {
  name: 'repo-imports',
  setup(pluginBuild) {
    // Every relative import stays an import (no bundling); only its target changes.
    pluginBuild.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const target = resolve(args.resolveDir, args.path);
      const from = outputOf(args.importer);
      if (target.startsWith(src)) {
        const dist = join(root, 'dist', relative(src, target)).replace(/\.ts$/, '.js');
        return { path: specifier(from, dist), external: true };
      }
      return { path: specifier(from, outputOf(target)), external: true };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints,
  outbase: root,
  outdir,
  bundle: true,
  packages: 'external',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  plugins: [repoImports],
  logLevel: 'error',
});
