/**
 * The measured process of the scale benchmark: either the real hub (`hub`) or the baseline, a
 * bare `ws` server that echoes every frame (`ws`), so both see the same client traffic. Run
 * with `--expose-gc`: memory is read after full collections. Driven by bench/support/child.ts.
 */
import { WebSocketServer } from 'ws';
import { createHub, type Hub } from '../../src/hub/index.ts';
import { serveCommands } from '../support/child.ts';

export type ServerMode = 'hub' | 'ws';

/** What `memory` answers: bytes, after full collections. */
export interface ServerMemory {
  rss: number;
  heapUsed: number;
  external: number;
}

/** What `cpu` answers: CPU time (user + system) spent over `wallMs` of wall time. */
export interface ServerCpu {
  cpuMs: number;
  wallMs: number;
}

let hub: Hub | undefined;
let wss: WebSocketServer | undefined;

const gc = (globalThis as { gc?: () => void }).gc;

async function collect(): Promise<void> {
  if (!gc) throw new Error('run the scale server with --expose-gc');
  // Twice, with a turn between: weak callbacks and finalizers of the first pass free more.
  gc();
  await new Promise<void>((resolve) => setImmediate(resolve));
  gc();
}

serveCommands({
  /** Starts the hub (accepting `token`) or the echo server on a free loopback port. */
  async start({ mode, token }: { mode: ServerMode; token: string }): Promise<{ url: string }> {
    if (mode === 'hub') {
      hub = createHub({ staticToken: token });
      const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
      return { url };
    }
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, clientTracking: true });
    server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    wss = server;
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the echo server has no TCP address');
    return { url: `ws://127.0.0.1:${address.port}/v1/connect` };
  },

  /** Sessions held: authenticated devices for the hub, open sockets for the baseline. */
  sessions(): number {
    return hub ? hub.devices().length : (wss?.clients.size ?? 0);
  },

  async memory(): Promise<ServerMemory> {
    await collect();
    const { rss, heapUsed, external } = process.memoryUsage();
    return { rss, heapUsed, external };
  },

  /** Leaves the process idle (apart from what the clients send) for `ms` and reports its CPU time. */
  async cpu({ ms }: { ms: number }): Promise<ServerCpu> {
    const start = process.cpuUsage();
    const t0 = performance.now();
    await new Promise<void>((resolve) => setTimeout(resolve, ms));
    const used = process.cpuUsage(start);
    return { cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - t0 };
  },
});
