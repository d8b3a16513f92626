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

/**
 * Measures the footprint after a full GC. With `handlesAtMost`, first lets closing sockets and
 * timers finish (event-loop turns, never sleeps) until no more than that many resources are left,
 * and measures anyway if they stay.
 */
export async function footprint(handlesAtMost?: number): Promise<Footprint> {
  if (handlesAtMost !== undefined)
    await until(() => process.getActiveResourcesInfo().length <= handlesAtMost, undefined, 10_000).catch(() => {});
  const gc = collector();
  // Twice, with turns between: finalizers and weak callbacks free more on the second pass.
  for (let i = 0; i < 2; i++) {
    gc?.();
    await settle(5);
  }
  return { heapUsed: process.memoryUsage().heapUsed, handles: process.getActiveResourcesInfo(), gc: gc !== undefined };
}
