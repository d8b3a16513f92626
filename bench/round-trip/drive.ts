/** How the round-trip benchmark drives a contender's hub side: executions pipelined, or one at a time. */
import type { ServerSide } from './contenders.ts';

/** Keeps `window` executions in flight until `total` have ended; executions per second. */
export async function pipelined(side: ServerSide, total: number, window: number): Promise<number> {
  const start = performance.now();
  let started = 0;
  let ended = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (started === total) return;
      started++;
      side.execute().then(() => (++ended === total ? resolve() : next()), reject);
    };
    for (let i = 0; i < Math.min(window, total); i++) next();
  });
  return (total / (performance.now() - start)) * 1_000;
}

/** `count` executions one after another; each one's time in microseconds. */
export async function sequential(side: ServerSide, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await side.execute();
    times.push(Number(process.hrtime.bigint() - start) / 1_000);
  }
  return times;
}
