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
 * Its frames then wait in TCP, at the device's expense. While reading is paused the device is
 * alive as long as what it was sent keeps going out (`lastWritten`): a slow reader is not timed
 * out, one that never reads is.
 *
 * @example
 * const gate = new ReadGate(ws, MAX_UNREAD_BYTES, () => clock.now());
 * ws.on('message', (data) => { gate.check(); handle(data); });
 * ws.send(frame, gate.written);
 */
export class ReadGate {
  #paused = false;
  #lastWritten: number;

  constructor(
    private readonly ws: WebSocket,
    private readonly limit: number,
    private readonly now: () => number,
  ) {
    this.#lastWritten = now();
  }

  /** Whether reading is paused now. */
  get paused(): boolean {
    return this.#paused;
  }

  /** When a frame sent to the device last went out (into the kernel: the device made room). */
  get lastWritten(): number {
    return this.#lastWritten;
  }

  /** On every inbound frame: stop reading while our frames pile up unread. */
  check(): void {
    if (this.#paused || this.ws.bufferedAmount <= this.limit) return;
    this.#paused = true;
    this.ws.pause();
  }

  /** The callback of every send: note the progress, and read again once the backlog has halved. */
  readonly written = (): void => {
    this.#lastWritten = this.now();
    if (!this.#paused || this.ws.bufferedAmount > this.limit / 2) return;
    this.#paused = false;
    this.ws.resume();
  };
}
