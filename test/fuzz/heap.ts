import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection: `global.gc` when Node runs with `--expose-gc`, else the same
 * function obtained by setting that flag at run time (a new context then has `gc`).
 */
const collect: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Bytes of heap in use after full collections, once pending callbacks (closed sockets) have run. */
export async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    collect();
  }
  return process.memoryUsage().heapUsed;
}

/** Bytes as MiB with one decimal, for the printed summary. */
export const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
