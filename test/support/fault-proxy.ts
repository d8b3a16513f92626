import { createServer, isIP, type Server, Socket } from 'node:net';
import { nextRandom } from '../../src/util/random.ts';

/** Where a {@link FaultProxy} forwards to: a loopback host (default `127.0.0.1`) and a port. */
export interface ProxyTarget {
  host?: string;
  port: number;
}

/** The faults a {@link FaultProxy} counts, one count per injection. */
export type FaultKind = 'cut' | 'stall' | 'delay' | 'throttle' | 'split' | 'restart';

export interface FaultProxyOptions {
  target: ProxyTarget;
  /**
   * Restarts the server behind the proxy for {@link FaultProxy.restartHub}: e.g. closes the hub
   * and starts another, or `hub.restart()`. Resolves with the new target when it moved.
   */
  restartHub?: () => Promise<ProxyTarget | void>;
  /** Seed of the piece sizes under {@link FaultProxy.split}. Default 1. */
  seed?: number;
}

/** What a {@link FaultProxy} did so far. */
export interface FaultCounters {
  /** Client connections accepted. */
  accepted: number;
  /** Bytes forwarded client → target (`up`) and target → client (`down`). */
  bytes: { up: number; down: number };
  /**
   * Faults injected, by kind: each `cut` and restart, each `stall(true)` and `split(true)` that
   * turned it on, each `delay` and `throttle` to a new value other than 0.
   */
  faults: Record<FaultKind, number>;
}

/**
 * A TCP proxy on 127.0.0.1 that sits between a connector and the hub and breaks the network
 * on command. Every control takes effect at once on the connections open now and on those
 * accepted later, until turned off; `cut` and `restartHub` act on the open ones only. Its
 * timers are unref'd and cleared with the connections, so it leaks no handle once closed.
 */
export interface FaultProxy {
  readonly port: number;
  /** `ws://127.0.0.1:<port><path>`: give it to a connector instead of the hub's URL. */
  url(path?: string): string;
  /** Destroys every open connection both ways with a TCP reset: no close frame reaches either side. */
  cut(): void;
  /**
   * Half-open link: stops forwarding in both directions, FIN and reset included, without closing
   * anything; new connections are accepted and held too. Bytes wait in the proxy (past 1 MiB per
   * connection it stops reading, so TCP backpressure builds up as behind a dead route) and flow
   * again, in order, on `stall(false)`. Only heartbeat timeouts can tell.
   */
  stall(on: boolean): void;
  /** Holds each chunk `ms` after it arrived before forwarding it, in order; 0 turns it off. */
  delay(ms: number): void;
  /** Limits each direction of each connection to `bytesPerSecond`; 0 turns it off. */
  throttle(bytesPerSecond: number): void;
  /**
   * Writes every chunk as pieces of `min`–`max` bytes (default 1–7), one per event-loop turn on
   * sockets with Nagle off, so that a WebSocket frame reaches the peer over many reads.
   */
  split(on: boolean, sizes?: { min: number; max: number }): void;
  /**
   * Resets the open connections (as a crash would), runs the `restartHub` option, and forwards
   * new connections to the target it resolves with (the same one when it resolves nothing).
   * Connections accepted meanwhile go to the old target, and fail as they would behind a real proxy.
   * @throws when the proxy was made without `restartHub`, or the new target is not loopback.
   */
  restartHub(): Promise<void>;
  /** Open client connections. */
  readonly open: number;
  /** Bytes accepted but not yet forwarded, both directions (what a stall or a throttle holds). */
  readonly held: number;
  readonly counters: FaultCounters;
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/** Whether a host is this machine: `localhost`, 127.0.0.0/8 or ::1. */
export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || (isIP(host) === 4 && host.startsWith('127.'));
}

function checkedTarget(target: ProxyTarget): Required<ProxyTarget> {
  const host = target.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new Error(`the fault proxy forwards to loopback only, not ${host}`);
  return { host, port: target.port };
}

/** What one direction of a connection forwards: data, then at most one FIN or reset. */
type Item = { kind: 'data'; chunk: Buffer; at: number } | { kind: 'end' } | { kind: 'reset' };

/** The settings every pump reads before each chunk, so a change applies to open connections too. */
interface Controls {
  stalled: boolean;
  delayMs: number;
  bytesPerSecond: number;
  split: { min: number; max: number } | undefined;
}

/** Resolves after `ms` on an unref'd timer, or at once when `cancel` is called. */
function pause(ms: number, cancels: Set<() => void>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      cancels.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    cancels.add(done);
  });
}

/**
 * Destroys a socket with a TCP reset. One whose writing side was ended is destroyed plainly:
 * libuv refuses to reset a socket that is shutting down, and node then never closes its handle.
 */
function reset(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

/** One accepted client and its upstream socket. */
class Link {
  readonly sockets: [client: Socket, upstream: Socket];
  /** Wakes whatever a pump of this link waits on (a timer, a drain, the end of a stall). */
  readonly cancels = new Set<() => void>();
  readonly queues: [up: Item[], down: Item[]] = [[], []];
  held = 0;
  dead = false;

  constructor(client: Socket, upstream: Socket) {
    this.sockets = [client, upstream];
  }

  /** Resets both sockets and stops both pumps. */
  reset(): void {
    if (this.dead) return;
    this.dead = true;
    for (const socket of this.sockets) reset(socket);
    this.#wake();
  }

  /** Both sockets closed on their own: stop the pumps. */
  finish(): void {
    this.dead = true;
    this.#wake();
  }

  #wake(): void {
    for (const cancel of [...this.cancels]) cancel();
    this.queues[0].length = 0;
    this.queues[1].length = 0;
    this.held = 0;
  }
}

/**
 * Starts a fault proxy on a free port of 127.0.0.1 in front of `target`.
 *
 * @throws when `target` is not a loopback address.
 * @example
 * const proxy = await startFaultProxy({ target: { port: hubPort }, restartHub: () => hub.restart({ downMs: 100 }) });
 * const connector = createConnector({ url: proxy.url('/v1/connect'), … });
 * proxy.stall(true); // the connector must notice by its heartbeat
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  let target = checkedTarget(options.target);
  const controls: Controls = { stalled: false, delayMs: 0, bytesPerSecond: 0, split: undefined };
  const counters: FaultCounters = {
    accepted: 0,
    bytes: { up: 0, down: 0 },
    faults: { cut: 0, stall: 0, delay: 0, throttle: 0, split: 0, restart: 0 },
  };
  const links = new Set<Link>();
  let random = options.seed ?? 1;
  let closing: Promise<void> | undefined;

  const nextPieceSize = ({ min, max }: { min: number; max: number }) => {
    const [value, next] = nextRandom(random);
    random = next;
    return min + Math.floor(value * (max - min + 1));
  };

  /** Moves one direction's items to `to`, applying the controls as they are at each step. */
  async function pump(link: Link, index: 0 | 1, to: Socket): Promise<void> {
    const queue = link.queues[index];
    const from = link.sockets[index];
    let freeAt = 0; // the throttle: when this direction may send again
    while (!link.dead && queue.length > 0) {
      const item = queue[0]!;
      if (to.destroyed) {
        // The peer is gone: what it was sent goes nowhere (its own close is forwarded the other way).
        for (const dropped of queue.splice(0)) if (dropped.kind === 'data') link.held -= dropped.chunk.length;
        break;
      }
      if (controls.stalled) {
        await pause(60_000, link.cancels); // woken by stall(false), or the link's end
        continue;
      }
      if (item.kind !== 'data') {
        queue.shift();
        if (item.kind === 'end') to.end();
        else reset(to);
        continue;
      }
      const due = item.at + controls.delayMs - Date.now();
      if (due > 0) {
        await pause(due, link.cancels);
        continue; // the controls may have changed meanwhile
      }
      const { split, bytesPerSecond } = controls;
      // Throttled, a chunk goes in slices of a twentieth of a second's worth.
      const size = split ? nextPieceSize(split) : bytesPerSecond > 0 ? Math.max(1, Math.floor(bytesPerSecond / 20)) : item.chunk.length;
      if (bytesPerSecond > 0 && freeAt > Date.now()) {
        await pause(freeAt - Date.now(), link.cancels);
        continue;
      }
      const piece = item.chunk.subarray(0, size);
      if (piece.length === item.chunk.length) queue.shift();
      else item.chunk = item.chunk.subarray(piece.length);
      link.held -= piece.length;
      if (bytesPerSecond > 0) freeAt = Math.max(freeAt, Date.now()) + (piece.length * 1000) / bytesPerSecond;
      if (index === 0) counters.bytes.up += piece.length;
      else counters.bytes.down += piece.length;
      const flowing = to.write(piece);
      if (!flowing)
        await new Promise<void>((resolve) => {
          const done = () => {
            to.off('drain', done);
            link.cancels.delete(done);
            resolve();
          };
          to.on('drain', done);
          link.cancels.add(done);
        });
      // One piece per turn, so the peer reads them apart.
      if (split) await new Promise<void>((resolve) => setImmediate(resolve));
      // Reading stopped while too much waited here: take more now.
      if (link.held < 1 << 20 && from.isPaused()) from.resume();
    }
  }

  /** Queues what `from` sends for its peer, and runs the pump unless it is running. */
  function forward(link: Link, index: 0 | 1): void {
    const from = link.sockets[index];
    const to = link.sockets[1 - index]!;
    let pumping = false;
    const kick = () => {
      if (pumping || link.dead) return;
      pumping = true;
      void pump(link, index, to).finally(() => {
        pumping = false;
        if (link.queues[index].length > 0 && !link.dead) kick();
      });
    };
    from.on('data', (chunk: Buffer) => {
      link.queues[index].push({ kind: 'data', chunk, at: Date.now() });
      link.held += chunk.length;
      // Past 1 MiB held (behind a stall or a throttle), stop reading: TCP backpressure builds up as it would.
      if (link.held >= 1 << 20) from.pause();
      kick();
    });
    from.on('end', () => {
      link.queues[index].push({ kind: 'end' });
      kick();
    });
    from.on('close', (hadError) => {
      if (hadError || !from.readableEnded) {
        link.queues[index].push({ kind: 'reset' });
        kick();
      }
      if (link.sockets.every((socket) => socket.destroyed)) {
        link.finish();
        links.delete(link);
      }
    });
  }

  const server: Server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    counters.accepted += 1;
    const upstream = new Socket({ allowHalfOpen: true });
    const link = new Link(client, upstream);
    links.add(link);
    for (const socket of link.sockets) {
      socket.setNoDelay(true);
      // A reset from either side is expected here: it shows up as a `close` with an error.
      socket.on('error', () => {});
    }
    forward(link, 0);
    forward(link, 1);
    upstream.connect({ port: target.port, host: target.host, noDelay: true });
  });
  const port = await listenOnLoopback(server);

  /** Cuts short every pump's wait, so each reads the controls again. */
  const wakeAll = () => {
    for (const link of links) for (const cancel of [...link.cancels]) cancel();
  };
  const resetAll = () => {
    for (const link of [...links]) link.reset();
    links.clear();
  };

  return {
    port,
    url: (path = '') => `ws://127.0.0.1:${port}${path}`,
    cut() {
      counters.faults.cut += 1;
      resetAll();
    },
    stall(on) {
      if (on && !controls.stalled) counters.faults.stall += 1;
      controls.stalled = on;
      if (!on) wakeAll();
    },
    delay(ms) {
      if (ms > 0 && ms !== controls.delayMs) counters.faults.delay += 1;
      controls.delayMs = Math.max(0, ms);
      wakeAll();
    },
    throttle(bytesPerSecond) {
      if (bytesPerSecond > 0 && bytesPerSecond !== controls.bytesPerSecond) counters.faults.throttle += 1;
      controls.bytesPerSecond = Math.max(0, bytesPerSecond);
      wakeAll();
    },
    split(on, sizes = { min: 1, max: 7 }) {
      if (on && !controls.split) counters.faults.split += 1;
      if (on && (sizes.min < 1 || sizes.max < sizes.min)) throw new Error(`bad piece sizes ${sizes.min}–${sizes.max}`);
      controls.split = on ? { ...sizes } : undefined;
    },
    async restartHub() {
      if (!options.restartHub) throw new Error('this fault proxy was started without restartHub');
      counters.faults.restart += 1;
      resetAll();
      const moved = await options.restartHub();
      if (moved) target = checkedTarget(moved);
    },
    get open() {
      return links.size;
    },
    get held() {
      let held = 0;
      for (const link of links) held += link.held;
      return held;
    },
    counters,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        resetAll();
      });
      return closing;
    },
  };
}

/**
 * Listens on a free loopback port; resolves with it. An error after listening (a client's reset
 * surfacing on the server) is expected of a proxy and ignored; one before it rejects.
 */
export async function listenOnLoopback(server: Server): Promise<number> {
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as { port: number }).port;
}
