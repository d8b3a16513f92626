// After `tsc -p tsconfig.types.json`: removes the declaration files that no entry point's
// declarations import (internal modules such as the CLI's and the hub's routes). A consumer's
// compiler never opens them, and they were a quarter of the declarations' bytes in the tarball.
// Plain JavaScript so that the build needs nothing but TypeScript and node.
// Usage: node scripts/prune-declarations.mjs [DIST]   (default: dist/ beside this script's folder;
// DIST's parent holds the package.json whose exports name the entry points).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const dist = normalize(process.argv[2] ?? join(import.meta.dirname, '..', 'dist'));
const exportsMap = JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')).exports;
const entries = Object.values(exportsMap).flatMap((target) =>
  typeof target === 'object' && target.types ? [join(dist, '..', target.types)] : [],
);
const specifier = /(?:from|import\()\s*['"](\.[^'"]+)['"]/g;

const reachable = new Set();
const stack = entries.map((entry) => normalize(entry));
while (stack.length > 0) {
  const file = stack.pop();
  if (reachable.has(file) || !existsSync(file)) continue;
  reachable.add(file);
  for (const [, spec] of readFileSync(file, 'utf8').matchAll(specifier)) {
    const base = normalize(join(dirname(file), spec));
    const candidate = [base.replace(/\.(ts|js)$/, '.d.ts'), `${base}.d.ts`, join(base, 'index.d.ts')].find((path) => existsSync(path));
    if (candidate) stack.push(candidate);
  }
}
if (reachable.size === 0) throw new Error('prune-declarations: no entry point declarations found; run tsc -p tsconfig.types.json first');

let removed = 0;
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (path.endsWith('.d.ts') && !reachable.has(path)) {
      rmSync(path);
      removed += 1;
    }
  }
};
walk(dist);
console.log(`declarations: ${reachable.size} reachable from the entry points kept, ${removed} internal ones removed`);
