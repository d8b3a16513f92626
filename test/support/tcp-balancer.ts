import { createServer, type Server, Socket } from 'node:net';
import { isLoopback, listenOnLoopback } from './fault-proxy.ts';

/** A backend of a {@link TcpBalancer}: a loopback port. */
export interface Backend {
  host?: string;
  port: number;
}

/**
 * A TCP load balancer on 127.0.0.1, as one in front of a hub cluster: each new connection goes to
 * the next backend in turn (round-robin); a backend that refuses the connection is skipped for
 * the next one, so a dead node takes no new devices. A connection is two sockets spliced: when
 * either side closes or fails, the other is destroyed too, so a device whose node died sees its
 * connection drop and reconnects through the balancer to a live node.
 */
export interface TcpBalancer {
  readonly port: number;
  /** `ws://127.0.0.1:<port><path>`: give it to a connector instead of a node's URL. */
  url(path?: string): string;
  /** Replaces the backends; open connections stay where they are. @throws on a non-loopback host. */
  setBackends(backends: readonly Backend[]): void;
  /** Open connections per backend port (spliced and still open). */
  openByBackend(): Map<number, number>;
  /** Connections accepted, and how many of them found no live backend (closed at once). */
  readonly counters: { accepted: number; refused: number };
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream?: Socket;
  port?: number;
}

function checked(backend: Backend): Required<Backend> {
  const host = backend.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new Error(`the balancer forwards to loopback only, not ${host}`);
  return { host, port: backend.port };
}

/** Connects to `backend`; resolves with the connected socket, or undefined when it refused or failed. */
function dial(backend: Required<Backend>): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setNoDelay(true);
    const onError = () => {
      socket.destroy();
      resolve(undefined);
    };
    socket.once('error', onError);
    socket.connect({ host: backend.host, port: backend.port }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/**
 * Starts a balancer on a free port of 127.0.0.1 over `backends` (loopback only).
 *
 * @example
 * const balancer = await startTcpBalancer(cluster.nodes.map((node) => ({ port: node.port })));
 * const connector = createConnector({ url: balancer.url('/v1/connect'), … });
 */
export async function startTcpBalancer(backends: readonly Backend[]): Promise<TcpBalancer> {
  let pool = backends.map(checked);
  let next = 0;
  const links = new Set<Link>();
  const counters = { accepted: 0, refused: 0 };
  let closing: Promise<void> | undefined;

  /** Tries each backend once, from the next in turn; the first that accepts takes the connection. */
  async function splice(link: Link): Promise<void> {
    // This connection's turn: the next backend, then the ones after it (not the turns of connections dialling meanwhile).
    const backends = pool;
    const first = next++;
    for (let i = 0; i < backends.length && !link.client.destroyed && !closing; i++) {
      const backend = backends[(first + i) % backends.length]!;
      const upstream = await dial(backend);
      if (!upstream) continue;
      if (link.client.destroyed || closing) {
        upstream.destroy();
        return;
      }
      link.upstream = upstream;
      link.port = backend.port;
      const end = () => {
        link.client.destroy();
        upstream.destroy();
        links.delete(link);
      };
      upstream.on('error', end);
      upstream.on('close', end);
      link.client.on('close', end);
      // The client's first bytes waited in its paused stream; nothing was lost to a refusing backend.
      upstream.pipe(link.client);
      link.client.pipe(upstream);
      link.client.resume();
      return;
    }
    counters.refused += 1;
    link.client.destroy();
    links.delete(link);
  }

  const server: Server = createServer({ pauseOnConnect: true, noDelay: true }, (client) => {
    counters.accepted += 1;
    const link: Link = { client };
    links.add(link);
    client.on('error', () => client.destroy());
    void splice(link);
  });
  const port = await listenOnLoopback(server);

  return {
    port,
    url: (path = '') => `ws://127.0.0.1:${port}${path}`,
    setBackends(replacement) {
      pool = replacement.map(checked);
    },
    openByBackend() {
      const open = new Map<number, number>();
      for (const link of links) if (link.port !== undefined) open.set(link.port, (open.get(link.port) ?? 0) + 1);
      return open;
    },
    counters,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const link of [...links]) {
          link.client.destroy();
          link.upstream?.destroy();
        }
        links.clear();
      });
      return closing;
    },
  };
}
