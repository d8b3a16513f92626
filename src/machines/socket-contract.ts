import type { FrameErrorCode } from '../protocol/codec.ts';
import type { Message, Outbound } from '../protocol/messages.ts';

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

/**
 * Why a connection could not be made, when the network says more than "refused": the hub's
 * certificate is not trusted, names another host or fails a pin; the hub refused this side's
 * client certificate; the proxy wants credentials or cannot be reached. Each is a connection
 * reason and an `HttpError` kind (docs/operations.md, "Networks", says how to fix each).
 */
export type NetworkFailureReason =
  | 'tls_untrusted_certificate'
  | 'tls_hostname_mismatch'
  | 'tls_pin_mismatch'
  | 'tls_client_certificate_rejected'
  | 'proxy_auth_required'
  | 'proxy_unreachable';

/** A network failure as the socket reports it: its reason, and a message naming the host and the remedy. */
export interface NetworkFailureReport {
  reason: NetworkFailureReason;
  message: string;
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
