#!/usr/bin/env node
/**
 * Runs the test suite while a CPU hog occupies every core: what a developer's laptop or a shared
 * CI runner looks like. A test that passes only on an idle machine waits on time instead of on
 * events; this run finds it.
 *
 *   npm run test:busy                    # the whole suite, one hog per core
 *   npm run test:busy -- test/hub        # arguments go to vitest
 *   CLOUDTETHER_HOGS=4 npm run test:busy # more hogs than cores
 *
 * Each hog is a child process that spins until it is killed, and kills itself after
 * `CLOUDTETHER_HOG_MINUTES` (default 30) so none outlives a run that is itself killed.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';

const hogs = Number(process.env.CLOUDTETHER_HOGS ?? availableParallelism());
const lifetimeMs = Number(process.env.CLOUDTETHER_HOG_MINUTES ?? 30) * 60_000;
const spin = `setTimeout(() => process.exit(0), ${lifetimeMs}).unref(); for (;;) {}`;

const running = Array.from({ length: hogs }, () => spawn(process.execPath, ['-e', spin], { stdio: 'ignore' }));
const stopHogs = () => {
  for (const hog of running) hog.kill('SIGKILL');
};
process.on('exit', stopHogs);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopHogs();
    process.exit(130);
  });
}

const started = Date.now();
console.log(`test:busy: ${hogs} CPU hogs running; load average ${loadavg()[0].toFixed(1)}`);
const vitest = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], { stdio: 'inherit' });
vitest.on('exit', (code, signal) => {
  stopHogs();
  console.log(
    `test:busy: vitest ${signal ? `killed by ${signal}` : `exited ${code}`} after ${((Date.now() - started) / 1000).toFixed(0)} s with ${hogs} hogs; load average ${loadavg()[0].toFixed(1)}`,
  );
  process.exit(code ?? 1);
});
