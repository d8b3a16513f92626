import type { SocketConnection } from '../adapters/socket.ts';
import type { Message, MessageType } from '../protocol/messages.ts';

/**
 * The inbound frames of the data plane: the runtime's business alone (executions, their
 * cancellation, messaging, the outbox's acks, capability reloads). No machine changes state on
 * them, so while a session is linked they go from the socket straight to its receiver. Every
 * other frame (handshake, heartbeats, tokens, channels, settings, errors) goes through the
 * machines.
 */
export const DATA_FRAME_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'ack',
  'execution_request',
  'execution_cancel',
  'messaging_event',
  'capability_reload',
]);

/**
 * The data plane's own way to and from the open socket. Control frames (connect, heartbeats,
 * tokens) go through the connection machine; the runtime's frames (execution events, acks,
 * usage, the outbox's resends out; {@link DATA_FRAME_TYPES} in) are many and change no state,
 * so they skip the machines: out, straight to the connection the socket actor holds; in,
 * straight from the socket actor to the linked session's receiver. Routing each one as an event
 * through the supervisor, the connection machine and the socket actor cost three macrosteps per
 * frame, the largest share of the device's CPU (bench/round-trip).
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
 * const sendFrame = port.link((message) => runtime.receive(message));
 * sendFrame(frame); // false once the session is down or its socket closed
 */
export class SocketPort {
  #connection: SocketConnection | undefined;
  /** Bumped by every link and unlink: a link is current while the count is still its own. */
  #links = 0;
  /** The linked session's receiver of inbound data frames, on the connection it was linked on. */
  #receiver: { connection: SocketConnection; receive: (message: Message) => void } | undefined;

  /** The socket actor's connection is open. */
  attach(connection: SocketConnection): void {
    this.#connection = connection;
  }

  /** The connection closed or its actor stopped; a later connection's attach is kept. */
  detach(connection: SocketConnection): void {
    if (this.#connection === connection) this.#connection = undefined;
  }

  /**
   * A sender of encoded frames for the session that is up now, on the connection open now; and,
   * with `receive`, where that connection's inbound data frames go until the session is down.
   */
  link(receive?: (message: Message) => void): (frame: string) => boolean {
    const connection = this.#connection;
    const link = ++this.#links;
    this.#receiver = connection !== undefined && receive !== undefined ? { connection, receive } : undefined;
    return (frame) => {
      if (link !== this.#links || connection === undefined || this.#connection !== connection) return false;
      connection.send(frame);
      return true;
    };
  }

  /** The session is down: its link sends and receives nothing from now on. */
  unlink(): void {
    this.#links++;
    this.#receiver = undefined;
  }

  /**
   * The socket actor offers an inbound frame of `connection`: true when it was a data frame and
   * the session linked on that connection took it; false when it must go through the machines.
   */
  deliver(connection: SocketConnection, message: Message): boolean {
    const receiver = this.#receiver;
    if (
      receiver === undefined ||
      receiver.connection !== connection ||
      this.#connection !== connection ||
      !DATA_FRAME_TYPES.has(message.type)
    )
      return false;
    receiver.receive(message);
    return true;
  }
}
