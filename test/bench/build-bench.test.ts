import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');

/**
 * scripts/build-bench.mjs: `npm run bench` runs the benchmarks built, against the package's
 * dist/. Every relative import of the output must reach either another built benchmark file or
 * the dist/ file of a source that exists; a missed rewrite would import a `.ts` file under plain node.
 */
describe('scripts/build-bench.mjs', () => {
  it(
    'builds every benchmark file, its imports of src/ pointed at dist/ and its own at the built siblings',
    { timeout: 120_000 },
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'cloudtether-bench-build-'));
      try {
        await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build-bench.mjs'), out]);
        const sources = readdirSync(join(root, 'bench'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
        const built = sources.map((f) => join(out, 'bench', f.replace(/\.ts$/, '.js')));
        expect(built.filter((file) => !existsSync(file))).toEqual([]);
        const toDist: string[] = [];
        for (const file of built) {
          const text = readFileSync(file, 'utf8');
          for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
            expect(spec, file).toMatch(/\.js$/);
            const target = resolve(dirname(file), spec!);
            const dist = join(root, 'dist') + sep;
            if (target.startsWith(dist)) {
              toDist.push(target);
              // The source it stands for exists: dist/x.js is src/x.ts compiled.
              expect(existsSync(join(root, 'src', relative(dist, target)).replace(/\.js$/, '.ts')), `${file}: ${spec}`).toBe(true);
            } else expect(existsSync(target), `${file}: ${spec}`).toBe(true);
          }
        }
        expect(toDist.some((path) => path.endsWith(join('dist', 'hub', 'index.js')))).toBe(true);
        expect(readFileSync(join(out, 'bench', 'round-trip', 'device.js'), 'utf8')).not.toMatch(/\.ts"/);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
  );
});
