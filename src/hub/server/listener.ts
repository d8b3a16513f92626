import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import { CloseCode } from '../../protocol/index.ts';
import { HubError } from '../core/errors.ts';
import type { HubClock, HubTlsOptions } from '../core/options.ts';
import { CONNECT_PATH } from './routes.ts';

export interface HubListenOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
}

export interface HubAddress {
  /** The device endpoint, e.g. `ws://127.0.0.1:4817/v1/connect`. */
  url: string;
  port: number;
}

type Lifecycle = 'idle' | 'listening' | 'restarting' | 'closed';

/** What a listener serves, and what it closes when it stops. */
export interface ListenerParts {
  clock: HubClock;
  /** Serve TLS (https:// and wss://) with this certificate and key; plain HTTP without. */
  tls?: HubTlsOptions;
  /** How long a request's headers, and the whole request, may take to arrive (slow clients). */
  timeouts: { headersMs: number; requestMs: number };
  logger: Logger;
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every session with `code`; resolves once all of them are closed. */
  closeSessions(code: number, reason: string): Promise<void>;
  /** Drops the token requests a fault holds; the listener then cuts their connections. */
  abandonHeld(): void;
  /** Runs once, at the end of the final close. */
  closed(): void;
}

/**
 * The hub's `node:http` server and its lifecycle: idle → listening ⇄ restarting → closed; a restart
 * that cannot bind again falls back to idle.
 * `listen`, `restart` and `close` run one at a time, in call order.
 *
 * @example
 * const listener = new Listener({ clock, timeouts: { headersMs: 10_000, requestMs: 30_000 }, logger, request, upgrade, closeSessions, abandonHeld, closed });
 * await listener.listen(0, '127.0.0.1'); // { url: 'ws://127.0.0.1:40123/v1/connect', port: 40123 }
 */
export class Listener {
  readonly #parts: ListenerParts;
  readonly #server: Server;
  #state: Lifecycle = 'idle';
  #address: { host: string; port: number } | undefined;
  /** listen, restart and close run one at a time, in call order. */
  #lifecycle: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  constructor(parts: ListenerParts) {
    this.#parts = parts;
    const { headersMs, requestMs } = parts.timeouts;
    // node checks these only every connectionsCheckingInterval (30 s by default): check often
    // enough that a trickling client is cut off close to its deadline.
    const checkEveryMs = Math.max(10, Math.min(1_000, Math.floor(headersMs / 4)));
    const serverOptions = { headersTimeout: headersMs, requestTimeout: requestMs, connectionsCheckingInterval: checkEveryMs };
    const handle = (req: IncomingMessage, res: ServerResponse) => parts.request(req, res);
    const { tls } = parts;
    this.#server = tls
      ? createTlsServer(
          {
            ...serverOptions,
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa !== undefined && { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          },
          handle,
        )
      : createServer(serverOptions, handle);
    // A failed TLS handshake (an untrusted or missing client certificate, a client that does not
    // trust this one) is the client's to report; here it is only worth a debug line.
    this.#server.on('tlsClientError', (error: Error) => parts.logger.debug({ err: error }, 'TLS handshake failed'));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => parts.upgrade(req, socket, head));
    this.#server.on('error', (error: Error) => parts.logger.error({ err: error }, 'server error'));
  }

  /** Whether new device sockets are taken: only while listening, not while restarting or closed. */
  get accepting(): boolean {
    return this.#state === 'listening';
  }

  /** `host:port` of the last listen (`127.0.0.1:0` before the first), for absolute URLs. */
  hostPort(): string {
    const { host = '127.0.0.1', port = 0 } = this.#address ?? {};
    return `${bracketed(host)}:${port}`;
  }

  /** Starts listening; resolves with the device endpoint's URL. */
  listen(port: number, host: string): Promise<HubAddress> {
    return this.#serialize(async () => {
      if (this.#state !== 'idle') throw new HubError('invalid_state', `cannot listen: the hub is ${this.#state}`);
      const bound = await this.#bind(port, host);
      this.#address = { host, port: bound };
      this.#state = 'listening';
      this.#parts.logger.info({ port: bound, host }, 'hub listening');
      return { url: `${this.#parts.tls ? 'wss' : 'ws'}://${bracketed(host)}:${bound}${CONNECT_PATH}`, port: bound };
    });
  }

  /** Closes every session with `1012`, stops, waits `downMs` on the clock, and listens again where it was. */
  restart(downMs: number): Promise<void> {
    return this.#serialize(async () => {
      const address = this.#address;
      if (this.#state !== 'listening' || !address) throw new HubError('invalid_state', `cannot restart: the hub is ${this.#state}`);
      this.#state = 'restarting';
      this.#parts.logger.info({ down_ms: downMs }, 'hub restarting');
      await this.#shutdown(CloseCode.serverRestart, 'server_restart');
      if (downMs > 0) await new Promise<void>((resolve) => this.#parts.clock.setTimeout(resolve, downMs));
      try {
        await this.#bind(address.port, address.host);
      } catch (error) {
        // The port was taken while down: not listening, but `listen()` may be tried again.
        this.#state = 'idle';
        this.#parts.logger.error({ err: error, ...address }, 'hub could not listen again after a restart');
        throw error;
      }
      this.#state = 'listening';
      this.#parts.logger.info(address, 'hub listening again');
    });
  }

  /** Closes every session with `1001` and stops for good. Idempotent: later calls return the same promise. */
  close(): Promise<void> {
    this.#closing ??= this.#serialize(async () => {
      const wasListening = this.#server.listening;
      this.#state = 'closed';
      if (wasListening) await this.#shutdown(CloseCode.goingAway, 'going_away');
      this.#parts.closed();
      this.#parts.logger.info('hub closed');
    });
    return this.#closing;
  }

  /** Stops at once, as a killed process would: the port let go, connections cut, nothing closed in order. */
  crash(): void {
    this.#state = 'closed';
    this.#closing ??= Promise.resolve().then(() => this.#parts.closed());
    this.#server.close();
    this.#server.closeAllConnections();
  }

  #bind(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /** Stops accepting, closes every session with `code`, and resolves once all is closed. */
  async #shutdown(code: number, reason: string): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await this.#parts.closeSessions(code, reason);
    // An admin request still in flight (or a token request parked by a fault) must not hold the port.
    this.#server.closeAllConnections();
    this.#parts.abandonHeld();
    await stopped;
  }

  #serialize<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#lifecycle.then(operation);
    this.#lifecycle = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** An IPv6 host goes in brackets in a URL authority. */
function bracketed(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
