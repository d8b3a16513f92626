import type { SocketConnection } from '../adapters/socket.ts';

/**
 * The data plane's own way to the open socket. Control frames (connect, heartbeats, tokens)
 * go through the connection machine; the runtime's frames (execution events, acks, usage, the
 * outbox's resends) are many and change no state, so they skip the machines and go straight to
 * the connection the socket actor holds. Routing each one as an event through the supervisor,
 * the connection machine and the socket actor cost three macrosteps per frame (bench/round-trip).
 *
 * The socket actor attaches its connection once open and detaches it when it closes or is
 * stopped; the connector links a session to it when the connection machine reports the
 * session up and unlinks it when the session goes down. A link sends only while both hold, so
 * it never reaches a socket the machine has let go of, nor one of a later session.
 *
 * @example
 * const port = new SocketPort();
 * const socket = createSocketActor({ adapter: wsSocketAdapter, port });
 * // on `session.up`:
 * const sendFrame = port.link();
 * sendFrame(frame); // false once the session is down or its socket closed
 */
export class SocketPort {
  #connection: SocketConnection | undefined;
  /** Bumped by every link and unlink: a link is current while the count is still its own. */
  #links = 0;

  /** The socket actor's connection is open. */
  attach(connection: SocketConnection): void {
    this.#connection = connection;
  }

  /** The connection closed or its actor stopped; a later connection's attach is kept. */
  detach(connection: SocketConnection): void {
    if (this.#connection === connection) this.#connection = undefined;
  }

  /** A sender of encoded frames for the session that is up now, on the connection open now. */
  link(): (frame: string) => boolean {
    const connection = this.#connection;
    const link = ++this.#links;
    return (frame) => {
      if (link !== this.#links || connection === undefined || this.#connection !== connection) return false;
      connection.send(frame);
      return true;
    };
  }

  /** The session is down: its link sends nothing from now on. */
  unlink(): void {
    this.#links++;
  }
}
