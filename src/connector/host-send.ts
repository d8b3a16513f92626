import type { Actor } from 'xstate';
import type { supervisorMachine } from '../machines/supervisor.ts';
import { type Codec, FrameError } from '../protocol/codec.ts';
import type { ConnectorStatus } from '../status/connector-status.ts';
import type { Connector } from './connector-types.ts';

/**
 * The connector's `send`: a message the host sends itself, encoded and checked here and sent
 * through the connection machine; false while not connected.
 *
 * @throws {FrameError} when the message is invalid, or larger than the hub accepts.
 */
export function hostSender(options: {
  actor: Actor<typeof supervisorMachine>;
  codec: Codec;
  status: () => ConnectorStatus;
  /** Our own frame limit, when the hub did not say its own. */
  maxFrameBytes: number;
  /** Sees each call first (a session recording). */
  record?: (message: Parameters<Connector['send']>[0]) => void;
}): Connector['send'] {
  const { actor, codec } = options;
  return (message) => {
    options.record?.(message);
    const encoded = codec.encode(message);
    if (!encoded.ok) throw encoded.error;
    const { connection } = options.status();
    if (connection.state !== 'connected') return false;
    // The hub may accept less than we do; a frame over its limit would cost the whole session.
    const limit = connection.maxFrameBytes ?? options.maxFrameBytes;
    const { bytes } = encoded.value;
    if (bytes > limit) {
      throw new FrameError('too_large', `${message.type} of ${bytes} bytes exceeds the hub's limit of ${limit}`, {
        bytes,
        type: message.type,
        messageId: encoded.value.message.id,
      });
    }
    actor.send({ type: 'send_frame', frame: encoded.value.frame });
    return true;
  };
}
