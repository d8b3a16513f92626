import type { Actor } from 'xstate';
import type { SocketPort } from '../actors/socket-port.ts';
import type { Logger } from '../log/logger.ts';
import type { SessionInfo } from '../machines/connection.ts';
import type { supervisorMachine } from '../machines/supervisor.ts';
import type { Codec } from '../protocol/codec.ts';
import type { Message, Outbound } from '../protocol/messages.ts';
import type { ConnectorEvent } from '../status/connector-event.ts';
import type { ExecutionsStatus } from '../status/connector-status.ts';
import { RemoteWork, type RemoteWorkOptions } from './remote-work.ts';

export interface DataPlaneOptions extends Omit<RemoteWorkOptions, 'onResume' | 'onLoss' | 'onExecutionEnded'> {
  /** The socket actor's port: the way frames skip the machines while a session is up. */
  port: SocketPort;
  /** Where the host hears of inbound messages, resumes, outbox losses and ended executions. */
  notify: (event: ConnectorEvent) => void;
  /** The connector's own log, for a resume that lost requests. */
  log: Logger;
}

/**
 * The connector's data plane: inbound delivery, the executor, messaging and the outbox
 * ({@link RemoteWork}), linked to the session the supervisor reports. While a session is up,
 * data frames go both ways through the socket port and never through the machines
 * (src/actors/socket-port.ts); a data frame that came through the machines (before the link)
 * arrives as the supervisor's `message` and is handled the same way.
 *
 * @example
 * const plane = new DataPlane({ port, codec, clock, logger, log, store, deviceId, notify });
 * const actor = createActor(logic, { input: { ...input, connection: { ...connection, handshake: () => plane.handshake(version, []) } } });
 * plane.attach(actor);
 */
export class DataPlane {
  /** The handler registry, executor, messaging router, outbox and storage health. */
  readonly work: RemoteWork;
  readonly #port: SocketPort;
  readonly #codec: Codec;
  readonly #notify: (event: ConnectorEvent) => void;

  constructor({ port, notify, log, ...options }: DataPlaneOptions) {
    this.#port = port;
    this.#codec = options.codec;
    this.#notify = notify;
    this.work = new RemoteWork({
      ...options,
      onResume: ({ status, missed }) => {
        if (status !== 'resumed') log.warn({ status, missed }, 'the hub could not resume delivery: requests were lost');
        notify({ type: 'resume', status, missed });
      },
      onLoss: (loss) => notify({ type: 'outbox_loss', ...loss }),
      onExecutionEnded: (ended) => notify({ type: 'execution_ended', ...ended }),
    });
  }

  /** Follows the supervisor: its messages come in here, and its sessions link and unlink the port. */
  attach(actor: Actor<typeof supervisorMachine>): void {
    actor.on('message', ({ message }) => this.#receive(message));
    actor.on('session.up', ({ session }) => this.#up(session));
    actor.on('session.down', () => this.#down());
  }

  /** What each `connect` carries from the data plane: where delivery left off, capacity, and the runtime. */
  handshake(version: string, channels: string[]): Pick<Outbound<'connect'>, 'resume' | 'capacity' | 'runtime'> {
    return { resume: this.work.cursor(), capacity: this.work.executor.capacity, runtime: this.work.describe(version, channels) };
  }

  /** What is running and queued, and what waits to be delivered. */
  get executions(): ExecutionsStatus {
    const { executor, outbox } = this.work;
    return { capacity: executor.capacity, active: executor.active, outboxDepth: outbox.depth, waitingForStorage: outbox.waiting };
  }

  #receive(message: Message): void {
    void this.work.receive(message);
    this.#notify({ type: 'message', message });
  }

  // The data plane's frames, both ways, skip the machines, for this session only.
  #up(session: SessionInfo): void {
    const sendFrame = this.#port.link((message) => this.#receive(message));
    this.work.connected({
      resume: session.resume,
      maxFrameBytes: session.maxFrameBytes,
      sendFrame,
      send: (message) => {
        const encoded = this.#codec.encode(message);
        return encoded.ok && sendFrame(encoded.value.frame);
      },
      sendBuilt: (message) => {
        const encoded = this.#codec.encodeBuilt(message);
        return encoded.ok && sendFrame(encoded.value.frame);
      },
    });
  }

  #down(): void {
    this.#port.unlink();
    this.work.disconnected();
  }
}
