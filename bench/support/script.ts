/**
 * Which form of the code a benchmark run measures, and how it starts a script of its own in a
 * child process. `npm run bench` runs the benchmarks built (scripts/build-bench.mjs: bench/ to
 * JavaScript in .bench-build/, every import of src/ pointed at the package's dist/) under plain
 * node, so the runtime it measures is the JavaScript the package ships. `node --import tsx
 * bench/main.ts` (the smoke test) runs the sources under tsx instead; the reports say which.
 */
import { fileURLToPath } from 'node:url';

/** True when this run is the built benchmark (JavaScript, the package from dist/). */
export const BUILT = import.meta.url.endsWith('.js');

/** What the runtime under measurement is, for a report's setup line. */
export const RUNTIME_FORM = BUILT ? 'runtime from dist/ (built JavaScript) under plain node' : 'runtime from src/ under tsx';

/**
 * The path of a benchmark script next to `base` (an `import.meta.url`), in the form this run
 * uses: `name` is the source's name (`./device.ts`), a built run gets its `.js`.
 *
 * @example
 * const device = await startChild(benchScript('./device.ts', import.meta.url));
 */
export function benchScript(name: string, base: string): string {
  return fileURLToPath(new URL(BUILT ? name.replace(/\.ts$/, '.js') : name, base));
}

/** The node flags a child needs to run a benchmark script: tsx's loader for sources, nothing when built. */
export function scriptNodeFlags(): string[] {
  // tsx's loader by file URL, so the child finds it whatever the working directory.
  return BUILT ? [] : ['--import', import.meta.resolve('tsx')];
}
