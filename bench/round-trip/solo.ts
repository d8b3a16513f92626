/**
 * One contender of the round-trip benchmark alone, for profiling and A/B comparisons: warms up,
 * then runs `count` executions pipelined (256 in flight) or sequentially and prints executions/s,
 * each side's CPU per execution and the bytes the hub's process allocated per execution. It judges
 * nothing; `npm run bench -- round-trip` does.
 *
 *   npm run bench -- --smoke            # once: builds dist/ and .bench-build/
 *   node .bench-build/bench/round-trip/solo.js runtime pipelined 30000
 *   node --cpu-prof --cpu-prof-dir=prof/hub .bench-build/bench/round-trip/solo.js runtime pipelined 30000   # the hub's profile
 *   BENCH_DEVICE_FLAGS="--cpu-prof --cpu-prof-dir=prof/device" node .bench-build/bench/round-trip/solo.js runtime pipelined 30000
 */
import { parseArgs } from 'node:util';
import { startChild } from '../support/child.ts';
import { startGcStats } from '../support/gc-stats.ts';
import { benchScript, RUNTIME_FORM } from '../support/script.ts';
import { type Contender, startServerSide } from './contenders.ts';
import { pipelined, sequential } from './drive.ts';

const CONTENDERS: readonly Contender[] = ['runtime', 'ws-frames', 'ws-codec', 'ws-echo', 'socket.io'];
const WARM_UP = 5_000;
const WINDOW = 256;

const { positionals } = parseArgs({ allowPositionals: true });
const [contender = 'runtime', mode = 'pipelined', countText = '30000'] = positionals;
const count = Number(countText);
if (!CONTENDERS.includes(contender as Contender) || (mode !== 'pipelined' && mode !== 'sequential') || !(count > 0)) {
  console.error(`usage: solo.js [${CONTENDERS.join('|')}] [pipelined|sequential] [count]`);
  process.exit(2);
}

const side = await startServerSide(contender as Contender);
const deviceFlags = process.env.BENCH_DEVICE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
const device = await startChild(benchScript('./device.ts', import.meta.url), { args: [contender, side.url], nodeFlags: deviceFlags });
await side.deviceReady();
const run = (n: number) => (mode === 'pipelined' ? pipelined(side, n, WINDOW) : sequential(side, n));
await run(WARM_UP);
const deviceBefore = await device.cpuMicros();
const hubBefore = process.cpuUsage();
const gc = startGcStats();
const start = performance.now();
await run(count);
const elapsed = performance.now() - start;
const hub = process.cpuUsage(hubBefore);
const { allocatedBytes } = gc.stop();
const deviceCpu = (await device.cpuMicros()) - deviceBefore;
console.log(
  `${contender} ${mode}, ${count} executions (${RUNTIME_FORM}): ${((count / elapsed) * 1_000).toFixed(0)} exec/s, ` +
    `hub CPU ${((hub.user + hub.system) / count).toFixed(1)} µs/exec, device CPU ${(deviceCpu / count).toFixed(1)} µs/exec, ` +
    `hub allocated ${(allocatedBytes / count / 1_024).toFixed(2)} KiB/exec`,
);
await device.exit();
await side.close();
process.exit(0);
