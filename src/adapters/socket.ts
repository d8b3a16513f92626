/**
 * The socket adapter: the only way the connector touches a WebSocket. Machines never see it;
 * the socket actor (src/actors/socket.ts) drives it. Implementations: `wsSocketAdapter` (real,
 * on `ws`) and `createMemoryNetwork()` (in-memory, for unit tests). Both pass the same contract
 * tests (test/adapters/socket-contract.test.ts).
 *
 * Contract:
 * - `open()` returns at once; the outcome arrives through the handlers, never synchronously
 *   from inside `open()`.
 * - `onClose` is called exactly once per connection, whether it opened or not, and nothing is
 *   called after it. `onError` may come before it and is never the last word.
 * - `close()` and `terminate()` may be called in any state, any number of times.
 */
export interface SocketAdapter {
  open(url: string, handlers: SocketHandlers, options?: SocketOpenOptions): SocketConnection;
}

export interface SocketHandlers {
  onOpen(): void;
  onMessage(data: string | Buffer): void;
  onClose(code: number, reason: string): void;
  onError(error: Error): void;
}

export interface SocketOpenOptions {
  /** Largest inbound frame in bytes; larger ones close the socket with 1009. */
  maxPayload?: number;
  /** Extra HTTP headers on the upgrade request. */
  headers?: Record<string, string>;
}

export interface SocketConnection {
  send(data: string): void;
  /** Starts the closing handshake; `onClose` follows. */
  close(code?: number, reason?: string): void;
  /** Drops the connection without a closing handshake; `onClose` follows with 1006. */
  terminate(): void;
  /** Bytes queued by `send` and not yet written to the network. */
  readonly bufferedAmount: number;
}
