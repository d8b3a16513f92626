import { fromCallback } from 'xstate';
import type { SocketAdapter, SocketConnection } from '../adapters/socket.ts';
import type { Logger } from '../log/logger.ts';
import { CloseCode } from '../protocol/close-codes.ts';
import { type Codec, createCodec } from '../protocol/codec.ts';
import type { Message } from '../protocol/messages.ts';
import type { NetworkFailureReport, SocketActorEvent, SocketActorInput, SocketCommand } from '../machines/socket-contract.ts';
import { NetworkFailure } from '../network/network-failure.ts';
import type { SocketPort } from './socket-port.ts';

/**
 * Bytes waiting unsent past which this side stops answering bad frames. Each bad frame from the
 * hub is answered with an `error` frame; a hub that sends them without end and reads nothing
 * would otherwise grow this process's memory without end. The answers are only diagnostic.
 */
export const MAX_ERROR_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface SocketActorDeps {
  adapter: SocketAdapter;
  codec?: Codec;
  logger?: Logger;
  /** Where the open connection is published for the runtime's frames ({@link SocketPort}). */
  port?: Pick<SocketPort, 'attach' | 'detach' | 'deliver'>;
}

/**
 * The socket as an actor: opens one connection through the adapter when invoked, decodes
 * inbound frames, encodes outbound ones, and reports everything to its parent tagged with the
 * attempt's generation. Stopping the actor (its state was left) terminates the connection, so
 * a machine that re-enters its online state can never hold two live sockets.
 *
 * @example
 * const machine = connectionMachine.provide({
 *   actors: { socket: createSocketActor({ adapter: wsSocketAdapter }) },
 * });
 */
export function createSocketActor({ adapter, codec = createCodec(), logger, port }: SocketActorDeps) {
  return fromCallback<SocketCommand, SocketActorInput, SocketActorEvent>(({ input, sendBack, receive }) => {
    const { generation } = input;
    let closed = false;
    let connection: SocketConnection;
    // The heartbeat machine listens for activity only while a heartbeat it sent is unanswered,
    // and any inbound frame answers it. So the first data frame after a heartbeat went out is
    // reported, and no other: a report costs three machine steps, and most frames need none.
    let heartbeatUnanswered = false;
    // A TLS or proxy failure the adapter named; the close that follows carries it to the machine.
    let failure: NetworkFailureReport | undefined;
    /** Hands a data frame to the linked session, if one is; true when it is taken care of. */
    const deliverData = (message: Message): boolean => {
      try {
        return port?.deliver(connection, message) ?? false;
      } catch (error) {
        // A bug in the runtime: thrown from the socket's own callback it would end the process.
        // Acks are cumulative, so a later one would cover this frame as if it had been stored:
        // close instead (1011), and the hub sends everything from the last ack again.
        logger?.error({ err: error, type: message.type }, 'the runtime threw on a data frame; closing the link');
        connection.close(CloseCode.internalError, 'runtime_error');
        return true;
      }
    };
    try {
      connection = adapter.open(
        input.url,
        {
          onOpen: () => {
            port?.attach(connection);
            sendBack({ type: 'socket.open', generation });
          },
          onMessage: (data) => {
            const decoded = codec.decode(data);
            if (decoded.ok) {
              const answersHeartbeat = heartbeatUnanswered;
              heartbeatUnanswered = false;
              // A frame that goes through the machines tells the heartbeat itself.
              if (!deliverData(decoded.value)) sendBack({ type: 'socket.frame', generation, message: decoded.value });
              else if (answersHeartbeat) sendBack({ type: 'socket.activity', generation });
            } else {
              const { code, message, detail } = decoded.error;
              logger?.warn({ code, type: detail.type, path: detail.path }, 'bad frame from hub');
              sendBack({ type: 'socket.bad_frame', generation, code, message, ...(detail.messageId && { refId: detail.messageId }) });
            }
          },
          onClose: (code, reason) => {
            closed = true;
            port?.detach(connection);
            sendBack({ type: 'socket.closed', generation, code, reason, ...(failure && { failure }) });
          },
          onError: (error) => {
            if (error instanceof NetworkFailure) {
              failure = { reason: error.reason, message: error.message };
              logger?.warn({ reason: error.reason, host: error.route.host, proxy: error.route.proxy }, error.message);
            }
            sendBack({ type: 'socket.error', generation, message: error.message });
          },
        },
        { maxPayload: codec.maxFrameBytes },
      );
    } catch (error) {
      logger?.error({ err: error }, 'socket adapter refused to open');
      sendBack({ type: 'socket.unusable', generation, message: (error as Error).message });
      return () => {};
    }

    receive((command) => {
      switch (command.type) {
        case 'socket.send': {
          if (command.message.type === 'error' && connection.bufferedAmount > MAX_ERROR_BACKLOG_BYTES) {
            logger?.debug({ code: command.message.code }, 'the hub is not reading; not answering its bad frame');
            break;
          }
          const encoded = codec.encode(command.message);
          if (encoded.ok) {
            if (command.message.type === 'heartbeat') heartbeatUnanswered = true;
            connection.send(encoded.value.frame);
          }
          // An invalid outbound message is a bug in its producer: log it, never crash the link.
          else
            logger?.error({ code: encoded.error.code, type: command.message.type, path: encoded.error.detail.path }, encoded.error.message);
          break;
        }
        case 'socket.send_frame':
          connection.send(command.frame);
          break;
        case 'socket.close':
          connection.close(command.code, command.reason);
          break;
      }
    });

    // Leaving the state that invoked us: the socket must be gone before any new one opens.
    return () => {
      port?.detach(connection);
      if (!closed) connection.terminate();
    };
  });
}
