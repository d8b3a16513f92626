/**
 * `npm run bench -- footprint`: the heap and the start-up time of one idle connector. Every
 * measurement is a fresh child process (`probe.ts`) against a hub in this process, on loopback.
 * Baselines in the same rounds: a bare node process and one with the tsx loader (heap), a raw
 * `ws` client sending a hand-made `connect` (time to `connect_ack`).
 */
import { createHub } from '../../src/hub/index.ts';
import { type BenchOptions, type Figure, figure, inRounds, type Report } from '../support/rounds.ts';
import { bundledProbe, tsxProbe } from './probe-process.ts';
import type { ProbeResult } from './probe.ts';

const TOKEN = 'footprint-bench-token';
const MiB = 2 ** 20;
const HEAP_TARGET_MIB = 5;
const CONNECT_TARGET_MS = 50;

interface Round {
  bare: ProbeResult;
  tsxBare: ProbeResult;
  connector: ProbeResult;
  ws: ProbeResult;
  /** The connector bundled, and the packages alone: full runs only (smoke has seconds). */
  bundled?: ProbeResult;
  deps?: ProbeResult;
}

/** Runs both footprint benchmarks. */
export async function run(options: BenchOptions): Promise<Report[]> {
  const rounds = options.smoke ? 1 : 7;
  const hub = createHub({ staticToken: TOKEN });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  const bundled = await bundledProbe();
  try {
    const results = await inRounds(
      rounds,
      async (): Promise<Round> => ({
        bare: await bundled.run('bare'),
        tsxBare: await tsxProbe.run('bare'),
        connector: await tsxProbe.run('connector', url, TOKEN),
        ws: await tsxProbe.run('ws', url, TOKEN),
        ...(!options.smoke && { bundled: await bundled.run('connector', url, TOKEN), deps: await bundled.run('deps') }),
      }),
      { warmup: options.smoke ? 0 : 1 },
    );
    return [heapReport(results, options), startReport(results, options)];
  } finally {
    await bundled.dispose();
    await hub.close();
  }
}

const mib = (name: string, values: number[]): Figure => figure(name, 'MiB', values.map((v) => v / MiB), 'lower');
const ms = (name: string, values: number[]): Figure => figure(name, 'ms', values, 'lower');

function heapReport(results: Round[], options: BenchOptions): Report {
  const each = <T>(pick: (round: Round) => T) => results.map(pick);
  const bare = mib('bare node', each((r) => r.bare.heapUsed));
  const tsxBare = mib('node + tsx loader', each((r) => r.tsxBare.heapUsed));
  const aboveBare = mib('connector above bare node', each((r) => r.connector.heapUsed - r.bare.heapUsed));
  const target = { text: `< ${HEAP_TARGET_MIB} MiB`, met: aboveBare.median < HEAP_TARGET_MIB };
  const full = !options.smoke;
  return {
    title: 'Footprint: heap of one idle connector',
    setup: `heapUsed after full GCs (--expose-gc), each figure a fresh child process; the connector imports cloudtether, connects to a hub in the parent (static token, loopback) and idles 300 ms; ${results.length} rounds`,
    rows: [
      { figure: bare },
      { figure: tsxBare, baseline: bare },
      { figure: mib('connector (tsx, as shipped)', each((r) => r.connector.heapUsed)), baseline: bare },
      { figure: aboveBare, ...(full && { target }) },
      { figure: mib('connector above node + tsx', each((r) => r.connector.heapUsed - r.tsxBare.heapUsed)) },
      ...(full ? [{ figure: mib('bundled connector above bare', each((r) => r.bundled!.heapUsed - r.bare.heapUsed)) }] : []),
      ...(full ? [{ figure: mib('its packages alone above bare', each((r) => r.deps!.heapUsed - r.bare.heapUsed)) }] : []),
      { figure: mib('one more connector', each((r) => r.connector.heapUsedTwo! - r.connector.heapUsed)) },
      { figure: mib('raw ws client above node+tsx', each((r) => r.ws.heapUsed - r.tsxBare.heapUsed)) },
      { figure: mib('connector rss (tsx)', each((r) => r.connector.rss)), baseline: mib('bare node rss', each((r) => r.bare.rss)) },
    ],
    notes: [
      'The target is judged above bare node: cloudtether ships as TypeScript run through tsx (bin/ registers it), so a host pays the loader too;',
      '"above node + tsx" is the connector alone under that loader, "bundled" the same probe as plain JS (esbuild, packages from node_modules) under plain node.',
      '"its packages alone": zod, xstate, rxjs, ws, pino and jose imported, nothing created, plain node.',
      '"one more connector": a second idle connector in the same process, i.e. the state one holds once the code is loaded.',
    ],
  };
}

function startReport(results: Round[], options: BenchOptions): Report {
  const each = (pick: (round: Round) => number) => results.map(pick);
  const wsCold = ms('raw ws: socket -> connect_ack', each((r) => r.ws.connectMs!));
  const cold = ms('start() -> connected', each((r) => r.connector.connectMs!));
  const wsProcess = ms('raw ws: process start -> ack', each((r) => r.ws.processConnectedMs!));
  const wsWarm = ms('raw ws: second socket -> ack', each((r) => r.ws.warmConnectMs!));
  return {
    title: 'Footprint: start-up to connected',
    setup: `loopback, a fresh child process per round (tsx), static token; cold = the first connection in the process; ${results.length} rounds`,
    rows: [
      { figure: wsCold },
      { figure: cold, baseline: wsCold, ...(!options.smoke && { target: { text: `< ${CONNECT_TARGET_MS} ms`, met: cold.median < CONNECT_TARGET_MS } }) },
      ...(options.smoke ? [] : [{ figure: ms('start() -> connected, bundled', each((r) => r.bundled!.connectMs!)), baseline: wsCold }]),
      { figure: wsWarm },
      { figure: ms('second connector -> connected', each((r) => r.connector.warmConnectMs!)), baseline: wsWarm },
      { figure: wsProcess },
      { figure: ms('process start -> connected', each((r) => r.connector.processConnectedMs!)), baseline: wsProcess },
      { figure: ms('import cloudtether', each((r) => r.connector.importMs!)), baseline: ms('import ws', each((r) => r.ws.importMs!)) },
    ],
  };
}
