/**
 * The load of the scale benchmark, in its own process: lightweight device sessions, one raw
 * `ws` client each, speaking the real protocol with hand-made frames (the shapes of
 * src/protocol/messages.ts): `connect` with the static token, wait for the first answer
 * (`connect_ack` from the hub, the echo from the baseline), then a `heartbeat` every
 * `intervalMs` at a random phase, so the heartbeats of all sessions spread evenly over the
 * interval. Nothing else is sent or answered. Driven by bench/support/child.ts.
 */
import { WebSocket } from 'ws';
import { serveCommands } from '../support/child.ts';

export interface OpenArgs {
  url: string;
  token: string;
  count: number;
  /** Handshakes in flight at once. */
  concurrency: number;
  /** Heartbeat interval (the hub's `heartbeat_interval_ms`). */
  intervalMs: number;
  /** Whether the first answer must be a `connect_ack` (the hub) or anything (the echo baseline). */
  expectAck: boolean;
}

export interface OpenResult {
  opened: number;
  failed: number;
  elapsedMs: number;
  firstError?: string;
}

/** Loopback addresses to connect from: one source address has ~28 k ephemeral ports to one port. */
const PER_SOURCE_ADDRESS = 25_000;

const sockets: WebSocket[] = [];
const timers: NodeJS.Timeout[] = [];
const traffic = { sent: 0, received: 0 };

function connectFrame(i: number, token: string): string {
  return JSON.stringify({ v: 1, id: `connect-${i}`, type: 'connect', ts: Date.now(), device_id: `dev-${i}`, tenant_id: 'bench', token });
}

function heartbeatFrame(i: number, seq: number): string {
  return JSON.stringify({ v: 1, id: `hb-${i}-${seq}`, type: 'heartbeat', ts: Date.now(), seq });
}

/** Opens one session; resolves once the first answer arrived, rejects on anything else. */
function openOne(i: number, args: OpenArgs): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // The first block leaves the source address to the kernel: binding one explicitly makes
    // every connect search the port space for a free port (slow once thousands are taken).
    const block = Math.floor(i / PER_SOURCE_ADDRESS);
    const ws = new WebSocket(args.url, { perMessageDeflate: false, ...(block > 0 && { localAddress: `127.0.0.${1 + block}` }) });
    const fail = (why: string) => {
      ws.terminate();
      reject(new Error(why));
    };
    ws.once('open', () => ws.send(connectFrame(i, args.token)));
    ws.once('error', (error) => fail(error.message));
    ws.once('close', (code) => fail(`closed ${code} before the first answer`));
    ws.once('message', (data) => {
      ws.removeAllListeners('close');
      ws.removeAllListeners('error');
      if (args.expectAck) {
        const answer = JSON.parse(String(data)) as { type?: string };
        if (answer.type !== 'connect_ack') return fail(`first answer was ${String(data).slice(0, 120)}`);
      }
      ws.on('error', () => {});
      ws.on('message', () => traffic.received++);
      resolve(ws);
    });
  });
}

function startHeartbeats(ws: WebSocket, i: number, intervalMs: number): void {
  let seq = 0;
  const beat = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(heartbeatFrame(i, ++seq));
    traffic.sent++;
  };
  // A random phase: the sessions' heartbeats spread over the interval instead of coming in
  // the bursts the connect phase would give them.
  const first = setTimeout(() => {
    beat();
    timers.push(setInterval(beat, intervalMs));
  }, Math.random() * intervalMs);
  timers.push(first);
}

serveCommands({
  /** Opens `count` sessions, `concurrency` handshakes at a time. */
  async open(args: OpenArgs): Promise<OpenResult> {
    let next = 0;
    let opened = 0;
    let failed = 0;
    let firstError: string | undefined;
    const start = performance.now();
    const worker = async () => {
      while (next < args.count) {
        const i = next++;
        try {
          const ws = await openOne(i, args);
          sockets.push(ws);
          opened++;
          startHeartbeats(ws, i, args.intervalMs);
        } catch (error) {
          failed++;
          firstError ??= (error as Error).message;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(args.concurrency, args.count) }, worker));
    return { opened, failed, elapsedMs: performance.now() - start, ...(firstError !== undefined && { firstError }) };
  },

  /** Frames sent and received since the last call. */
  traffic(): { sent: number; received: number } {
    const counts = { ...traffic };
    traffic.sent = 0;
    traffic.received = 0;
    return counts;
  },

  /** Drops every session (no close handshake: the server is killed next anyway). */
  closeAll(): number {
    for (const timer of timers.splice(0)) clearTimeout(timer);
    const count = sockets.length;
    for (const ws of sockets.splice(0)) ws.terminate();
    return count;
  },
});
