/**
 * The child process of the footprint benchmark: a fresh heap per measurement. Bundled to plain
 * JavaScript and run with `--expose-gc` by plain node in the project the package was installed
 * into (see package.ts), so `cloudtether` and its dependencies resolve as a host's would; prints
 * one JSON line ({@link ProbeResult}) and exits. Only `node:` modules are imported statically, so
 * `bare` loads nothing else.
 *
 *   probe bare                     nothing: the heap of the process itself
 *   probe connector <url> <token>  import cloudtether, one connector to the hub, start() → connected, idle;
 *                                  then a second connector (the cost of one more, and a warm start)
 *   probe ws <url> <token>         a raw `ws` client: socket, hand-made `connect`, `connect_ack`
 *   probe import                   import cloudtether, create nothing
 *   probe deps <specifier>…        the packages the connector imports, as it imports them, and nothing used
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';

/** What a probe prints. Times in ms, sizes in bytes; `process*` times count from process start. */
export interface ProbeResult {
  heapUsed: number;
  rss: number;
  importMs?: number;
  /** start() (or opening the socket) → connected (or `connect_ack`), the first time in this process. */
  connectMs?: number;
  /** Process start → connected. */
  processConnectedMs?: number;
  /** The same for a second client in the same process: code compiled, modules loaded. */
  warmConnectMs?: number;
  /** Heap with two clients connected, after a full GC. */
  heapUsedTwo?: number;
}

/** heapUsed and rss after full collections, with turns between them so finalizers run. */
async function measure(): Promise<{ heapUsed: number; rss: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the probe with --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

/** Time for what follows `connected` (capacity, settings fetch) to finish: the connector is idle after it. */
const SETTLE_MS = 300;

/** The installed package; typed from the sources it was built from. Not a literal: the bundler leaves it to node. */
const PACKAGE = 'cloudtether';

async function connectorProbe(url: string, token: string): Promise<ProbeResult> {
  const importStart = performance.now();
  const { createConnector } = (await import(PACKAGE)) as typeof import('../../src/index.ts');
  const importMs = performance.now() - importStart;
  const connect = async (deviceId: string) => {
    const connector = createConnector({ url, token, deviceId });
    const start = performance.now();
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    return { connector, ms: performance.now() - start, at: performance.now() };
  };
  const first = await connect(`footprint-${process.pid}-a`);
  await sleep(SETTLE_MS);
  const one = await measure();
  // BENCH_HEAP_SNAPSHOT=<file>: the heap as measured, for heap-summary.ts.
  if (process.env.BENCH_HEAP_SNAPSHOT) writeHeapSnapshot(process.env.BENCH_HEAP_SNAPSHOT);
  const second = await connect(`footprint-${process.pid}-b`);
  await sleep(SETTLE_MS);
  const two = await measure();
  return { ...one, importMs, connectMs: first.ms, processConnectedMs: first.at, warmConnectMs: second.ms, heapUsedTwo: two.heapUsed };
}

async function wsProbe(url: string, token: string): Promise<ProbeResult> {
  const importStart = performance.now();
  const { WebSocket } = await import('ws');
  const importMs = performance.now() - importStart;
  // docs/protocol.md: the first frame is `connect`; the hub answers `connect_ack`.
  const connect = (deviceId: string) =>
    new Promise<{ ms: number; at: number }>((resolve, reject) => {
      const start = performance.now();
      const socket = new WebSocket(url);
      socket.once('error', reject);
      socket.once('open', () =>
        socket.send(
          JSON.stringify({ v: 1, id: randomUUID(), type: 'connect', ts: Date.now(), device_id: deviceId, tenant_id: 'local', token }),
        ),
      );
      socket.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string };
        if (frame.type === 'connect_ack') resolve({ ms: performance.now() - start, at: performance.now() });
        else reject(new Error(`expected connect_ack, got ${frame.type}`));
      });
    });
  const first = await connect(`footprint-${process.pid}-a`);
  await sleep(SETTLE_MS);
  const one = await measure();
  const second = await connect(`footprint-${process.pid}-b`);
  await sleep(SETTLE_MS);
  const two = await measure();
  return { ...one, importMs, connectMs: first.ms, processConnectedMs: first.at, warmConnectMs: second.ms, heapUsedTwo: two.heapUsed };
}

/** The runtime dependencies `import('cloudtether')` loads, by the specifiers it uses (footprint.ts lists them), imported and not used. */
async function depsProbe(specifiers: string[]): Promise<ProbeResult> {
  await Promise.all(specifiers.map((specifier) => import(specifier)));
  return measure();
}

const [mode, url, token] = process.argv.slice(2);
const rest = process.argv.slice(3);
const result =
  mode === 'bare'
    ? await measure()
    : mode === 'connector'
      ? await connectorProbe(url!, token!)
      : mode === 'ws'
        ? await wsProbe(url!, token!)
        : mode === 'import'
          ? await import(PACKAGE).then(measure)
          : mode === 'deps'
            ? await depsProbe(rest)
            : undefined;
if (!result) throw new Error(`unknown probe mode ${mode}`);
process.stdout.write(`${JSON.stringify(result)}\n`);
// Sockets stay open: the parent counts on the exit, not on a clean close.
process.exit(0);
