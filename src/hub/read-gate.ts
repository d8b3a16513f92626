import type { WebSocket } from 'ws';

/**
 * Bytes of a session's outbound frames that may wait unread before the hub stops reading from
 * it. Far above what answering one frame produces; a device that keeps sending while it reads
 * nothing (heartbeats, each answered) would otherwise grow the hub's memory without end.
 */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

/**
 * Backpressure for one device socket: the hub stops reading frames from a device while more
 * than `limit` bytes it was sent wait unread, and reads again once half of that has gone out.
 * Its frames then wait in TCP, at the device's expense; a device that never catches up sends
 * nothing the hub sees, and its session ends by the heartbeat timeout.
 *
 * @example
 * const gate = new ReadGate(ws, MAX_UNREAD_BYTES);
 * ws.on('message', (data) => { gate.check(); handle(data); });
 * ws.send(frame, gate.written);
 */
export class ReadGate {
  #paused = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly limit: number,
  ) {}

  /** On every inbound frame: stop reading while our frames pile up unread. */
  check(): void {
    if (this.#paused || this.ws.bufferedAmount <= this.limit) return;
    this.#paused = true;
    this.ws.pause();
  }

  /** The callback of every send: read again once the backlog has halved. */
  readonly written = (): void => {
    if (!this.#paused || this.ws.bufferedAmount > this.limit / 2) return;
    this.#paused = false;
    this.ws.resume();
  };
}
