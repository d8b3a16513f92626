import type { FrameErrorCode } from '../protocol/codec.ts';
import type { Message, Outbound } from '../protocol/messages.ts';
import type { NetworkFailureReport } from '../util/network-failure-reason.ts';

export type { NetworkFailureReason, NetworkFailureReport } from '../util/network-failure-reason.ts';

/*
 * What the connection machine and the socket actor say to each other. The machine owns the
 * contract; the actor that implements it (src/actors/socket.ts) imports it from here, so the
 * machine never imports the actor.
 */

/** What the connection machine gives the socket actor when it invokes it. */
export interface SocketActorInput {
  url: string;
  /** The connection attempt this socket belongs to; echoed on every event it sends back. */
  generation: number;
}

/** Events the socket actor sends to the connection machine. */
export type SocketActorEvent =
  | { type: 'socket.open'; generation: number }
  | { type: 'socket.frame'; generation: number; message: Message }
  /** A data frame went to the linked session (src/actors/socket-port.ts) while a heartbeat was unanswered. */
  | { type: 'socket.activity'; generation: number }
  | { type: 'socket.bad_frame'; generation: number; code: FrameErrorCode; message: string; refId?: string }
  /** `failure`: the socket never opened, for a reason the network named (a TLS or proxy failure). */
  | { type: 'socket.closed'; generation: number; code: number; reason: string; failure?: NetworkFailureReport }
  | { type: 'socket.error'; generation: number; message: string }
  /** The adapter refused to even try (an invalid URL): retrying cannot help. */
  | { type: 'socket.unusable'; generation: number; message: string };

/** Events the connection machine sends to the socket actor. */
export type SocketCommand =
  | { type: 'socket.send'; message: Outbound }
  | { type: 'socket.send_frame'; frame: string }
  | { type: 'socket.close'; code: number; reason: string };
