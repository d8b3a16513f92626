import WebSocket from 'ws';
import type { InspectionEvent } from 'xstate';
import type { RuntimeClock } from '../util/clock.ts';
import { realClock } from '../util/clock.ts';
import { importOptional } from '../util/optional-package.ts';

/** What this file uses of `@statelyai/inspect`; declared here so no declaration names the optional package. */
interface StatelyPackage {
  createInspector(adapter: { send(event: unknown): void }): { inspect: { next?: (event: InspectionEvent) => void } };
}

/**
 * `@statelyai/inspect` (with superjson and partysocket), loaded by the first inspector: about
 * 0.4 MiB of heap that a connector without the `stately` option does not need. An optional peer
 * dependency (package.json): without it the import fails with a `MissingPackageError`
 * (src/util/optional-package.ts).
 */
let inspectPackage: Promise<StatelyPackage> | undefined;

function loadInspectPackage(): Promise<StatelyPackage> {
  return importOptional(
    '@statelyai/inspect',
    "the connector's `stately` option needs it to send to Stately's inspector",
    () => import('@statelyai/inspect'),
  );
}

/** Where to send the inspection stream for Stately's inspector (docs/inspector.md). */
export interface StatelyInspectorOptions {
  /**
   * The WebSocket of a Stately inspector server (`createInspectorServer` from
   * `@statelyai/inspect/server`, or any relay that speaks its protocol). Default `ws://127.0.0.1:8080`.
   */
  url?: string;
  /** Wait between connection attempts while nothing listens. Default 5 s, as `@statelyai/inspect`. */
  retryMs?: number;
  /** Events kept while not connected; the oldest go first. Default 500. */
  maxBuffered?: number;
  /** Timers for the retries; tests pass a simulated clock. Default the real one, unref'd. */
  clock?: RuntimeClock;
  /** Opens the socket; tests count the attempts. Default `new WebSocket(url)` from `ws`. */
  openSocket?: (url: string) => WebSocket;
  /**
   * Called once if the client cannot run, after which it stops: a `MissingPackageError`
   * when `@statelyai/inspect` is not installed. Default: a process warning
   * (`process.emitWarning`), which Node prints on stderr; inspection never throws into the host.
   */
  onError?: (error: Error) => void;
}

/** A running Stately inspector client; {@link StatelyInspector.stop} ends it for good. */
export interface StatelyInspector {
  /** Give it sanitised inspection events (the connector does). */
  inspect(event: InspectionEvent): void;
  /** Closes the socket and cancels any retry. Idempotent. */
  stop(): void;
  /** `connecting`, `open`, `waiting` (to retry) or `stopped`. */
  readonly status: 'connecting' | 'open' | 'waiting' | 'stopped';
  /** Why it stopped by itself (`@statelyai/inspect` is not installed), if it did. */
  readonly error: Error | undefined;
}

/**
 * Sends an inspection stream to Stately's inspector through `@statelyai/inspect`'s own event
 * conversion, over a socket this library owns. The package's `createWebSocketInspector` retries
 * every 5 s forever, even after `stop()`, and keeps Node alive; this client cancels its retry on
 * `stop()` and never holds the process open (its timer is unref'd).
 *
 * The connector creates one with its `stately` option and stops it on `stop()`; pass it only
 * sanitised events (`connector.inspection.observe`), as the connector does.
 *
 * @example
 * // npx @statelyai/inspect's server, or: import { createInspectorServer } from '@statelyai/inspect/server'
 * const connector = createConnector(config, { stately: { url: 'ws://127.0.0.1:8080' } });
 */
export function createStatelyInspector(options: StatelyInspectorOptions = {}): StatelyInspector {
  const url = options.url ?? 'ws://127.0.0.1:8080';
  const retryMs = options.retryMs ?? 5_000;
  const maxBuffered = options.maxBuffered ?? 500;
  const clock = options.clock ?? realClock;
  const openSocket = options.openSocket ?? ((where: string) => new WebSocket(where));
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
  let status: StatelyInspector['status'] = 'connecting';
  let failure: Error | undefined;
  let socket: WebSocket | undefined;
  let retry: unknown;
  const buffered: string[] = [];

  const connect = () => {
    status = 'connecting';
    const ws = openSocket(url);
    socket = ws;
    ws.on('open', () => {
      if (socket !== ws) return;
      status = 'open';
      for (const text of buffered.splice(0)) ws.send(text);
    });
    // An error is followed by close; only close schedules the retry.
    ws.on('error', () => {});
    ws.on('close', () => {
      if (socket !== ws || status === 'stopped') return;
      socket = undefined;
      status = 'waiting';
      retry = clock.setTimeout(connect, retryMs);
      (retry as { unref?: () => void }).unref?.();
    });
  };

  const adapter = {
    send(event: unknown) {
      if (status === 'stopped') return;
      const text = JSON.stringify(event);
      if (status === 'open' && socket?.readyState === WebSocket.OPEN) socket.send(text);
      else {
        buffered.push(text);
        if (buffered.length > maxBuffered) buffered.shift();
      }
    },
  };
  // Events that come before the package is loaded wait for it, in order, as many as the buffer holds.
  let inspector: ReturnType<StatelyPackage['createInspector']> | undefined;
  const early: InspectionEvent[] = [];
  void (inspectPackage ??= loadInspectPackage()).then(
    ({ createInspector }) => {
      if (status === 'stopped') return;
      inspector = createInspector(adapter);
      for (const event of early.splice(0)) inspector.inspect.next?.(event);
    },
    // Without its package the inspector has nothing to send: it stops and says why, once; it
    // never throws into the host.
    (error: unknown) => {
      inspectPackage = undefined; // installed later, the next client loads it
      if (status === 'stopped') return;
      failure = error instanceof Error ? error : new Error(String(error));
      client.stop();
      onError(failure);
    },
  );
  connect();

  const client: StatelyInspector = {
    inspect(event) {
      if (status === 'stopped') return;
      if (inspector) inspector.inspect.next?.(event);
      else if (early.push(event) > maxBuffered) early.shift();
    },
    stop() {
      if (status === 'stopped') return;
      status = 'stopped';
      if (retry !== undefined) clock.clearTimeout(retry);
      buffered.length = 0;
      early.length = 0;
      const ws = socket;
      socket = undefined;
      if (ws && ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws?.close(1000, 'inspector stopped');
    },
    get status() {
      return status;
    },
    get error() {
      return failure;
    },
  };
  return client;
}
