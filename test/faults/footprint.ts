import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { settle } from '../support/execution-fixture.ts';
import { until } from '../support/loopback.ts';

/** The process's heap and the resources keeping its event loop alive, at one moment. */
export interface Footprint {
  heapUsed: number;
  /** `process.getActiveResourcesInfo()`: `TCPSocketWrap`, `Timeout`, … */
  handles: string[];
  /** Whether the heap was measured after a full garbage collection. */
  gc: boolean;
}

/**
 * `global.gc` when node runs with `--expose-gc`; else the same function exposed at run time
 * (V8 makes it for new contexts once the flag is set). Undefined if neither works.
 */
function collector(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** V8's default for `--retain-maps-for-n-gc`, put back after a measurement. */
const RETAIN_MAPS_DEFAULT = 2;

/**
 * Measures the footprint after a full GC. With `handlesAtMost`, first lets closing sockets and
 * timers finish (event-loop turns, never sleeps) until no more than that many resources are left,
 * and measures anyway if they stay.
 *
 * V8 keeps hidden classes (maps) that optimized code used alive for some GCs after they die
 * (`--retain-maps-for-n-gc`), and what such a map reaches survives with it: after a chaos run
 * whose hub and connector are gone, megabytes that nothing referenced (a heap snapshot, whose
 * GC retains no maps, did not find them) outlived the two forced GCs and counted as growth, more
 * the longer the run. The measuring GCs retain no maps, so the figure is what is still live.
 */
export async function footprint(handlesAtMost?: number): Promise<Footprint> {
  if (handlesAtMost !== undefined)
    await until(() => process.getActiveResourcesInfo().length <= handlesAtMost, undefined, 10_000).catch(() => {});
  const gc = collector();
  setFlagsFromString('--retain-maps-for-n-gc=0');
  try {
    // Twice, with turns between: finalizers and weak callbacks free more on the second pass.
    for (let i = 0; i < 2; i++) {
      gc?.();
      await settle(5);
    }
    return { heapUsed: process.memoryUsage().heapUsed, handles: process.getActiveResourcesInfo(), gc: gc !== undefined };
  } finally {
    setFlagsFromString(`--retain-maps-for-n-gc=${RETAIN_MAPS_DEFAULT}`);
  }
}
