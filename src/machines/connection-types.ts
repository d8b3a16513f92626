import type { NetworkFailureReason, SocketActorEvent } from './socket-contract.ts';
import type { Message, Outbound } from '../protocol/messages.ts';
import type { UnauthorizedReason } from './auth-types.ts';
import type { BackoffPolicy } from './backoff.ts';

/*
 * The connection machine's vocabulary: its input and context, the events in and out, the
 * reasons it gives, and the flat state name the host sees. The machine is in connection.ts.
 */

/**
 * Why the connection is in its state. Every transition sets one (docs/machines.md).
 * Close-derived reasons use the close code's name (`replaced`, `server_restart`, `connection_lost`, …).
 */
export type ConnectionReason =
  | 'not_started'
  | 'no_url'
  | 'host_connect'
  | 'retry'
  | 'handshake_complete'
  | 'connect_timeout'
  | 'connection_refused'
  | 'protocol_error'
  | 'outage_too_long'
  | 'host_stop'
  | 'heartbeat_timeout'
  | 'sleep_detected'
  | 'invalid_url'
  | 'awaiting_token'
  | NetworkFailureReason
  | UnauthorizedReason
  | (string & {});

/** Session parameters from `connect_ack`. */
export interface SessionInfo {
  sessionId: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  maxFrameBytes: number;
  serverTime: number;
  /** The hub's answer to `connect.resume`, when it resumes delivery. */
  resume?: { status: 'resumed' | 'expired' | 'reset'; hubEpoch: string; missed: number };
  /** The optional features the hub speaks, when the `connect` announced some (`connect_ack.capabilities`). */
  capabilities?: string[];
}

export interface ConnectionInput {
  /** Hub URL; undefined puts the machine in `standalone` for good. */
  url: string | undefined;
  deviceId: string;
  tenantId: string;
  client?: { name: string; version: string };
  policy: BackoffPolicy;
  /** Socket open plus `connect_ack` must complete within this. */
  connectTimeoutMs: number;
  /** `stop()` waits this long for the closing handshake before dropping the socket. */
  closeTimeoutMs: number;
  /** PRNG seed for jitter (src/util/random.ts). */
  seed: number;
  /** Wall clock, for the outage length. */
  now: () => number;
  /**
   * Extra `connect` fields, read for each attempt: where inbound delivery left off (`resume`)
   * and the device's `capacity`, from the connector's execution runtime.
   */
  handshake?: () => Pick<Outbound<'connect'>, 'resume' | 'capacity' | 'capabilities'>;
}

export interface ConnectionContext extends Omit<ConnectionInput, 'seed'> {
  rng: number;
  /** The token for the current attempt, from the auth machine. */
  token: string | undefined;
  /** The token this session's `connect` carried; a newer `token` goes in-band once connected. */
  sentToken: string | undefined;
  /** Sequence of in-band `auth_refresh` messages; their ids are `auth_refresh:<n>`. */
  refreshSeq: number;
  /** Incremented on every attempt; socket events of older attempts are ignored. */
  generation: number;
  /** Failed attempts since the connection was last stable; sizes the jittered backoff. */
  attempt: number;
  /**
   * The pending or last retry was the first one after a failure of `connected`: at once, or
   * within `dropSpreadMs` after a drop without a close frame. Only one such retry in a row: a
   * hub that accepts and drops at once gets backoff in between.
   */
  lastRetryImmediate: boolean;
  /** Delay before the pending retry, while `disconnected` or `suspended`. */
  retryInMs: number | undefined;
  reason: ConnectionReason;
  /** The last close code seen, and the hub's last `error` frame message during a handshake. */
  lastClose: { code: number; reason: string } | undefined;
  hubError: string | undefined;
  /** The last TLS or proxy failure since the last session, worded with the host and the remedy. */
  networkError?: string;
  /** Wall time at which the current outage began (undefined while connected). */
  outageSince: number | undefined;
  session: SessionInfo | undefined;
}

/** Events the connection machine accepts. */
export type ConnectionEvent =
  | { type: 'connect' }
  | { type: 'disconnect' }
  | { type: 'send'; message: Outbound }
  | { type: 'send_frame'; frame: string }
  | { type: 'link.dead'; reason: 'heartbeat_timeout' | 'sleep_detected' }
  /** The auth machine's answer to `connection.token_needed`; a user token names its tenant. */
  | { type: 'token.granted'; token: string; tenantId?: string }
  /** The token is now for another tenant (an organization switch): reconnect there. */
  | { type: 'tenant.changed'; tenantId: string }
  /** The user logged out: drop the session and wait for a token again. */
  | { type: 'credentials.revoked' }
  | { type: 'token.unavailable'; reason: UnauthorizedReason }
  /** A fresh token from a proactive refresh: sent in-band on an open session. */
  | { type: 'token.refreshed'; token: string }
  | SocketActorEvent;

/** Events the connection machine sends to its parent. */
export type ConnectionOutput =
  /** Every attempt starts by asking for a token valid at that moment. */
  | { type: 'connection.token_needed' }
  /** The hub refused the token (close 4001 or 4002): the auth machine refreshes once. */
  | { type: 'connection.token_rejected' }
  | { type: 'connection.up'; session: SessionInfo }
  | { type: 'connection.down' }
  | { type: 'connection.frame'; message: Message }
  /** Data frames went straight to the runtime (socket-port.ts): the link is alive. */
  | { type: 'connection.activity' };

/** The connection's state as the host sees it: one flat name. */
export type ConnectionStateName =
  'initialized' | 'standalone' | 'connecting' | 'connected' | 'closing' | 'disconnected' | 'suspended' | 'closed' | 'failed';

/** The connection's part of the connector status; `stopped` while no connection machine runs. */
export interface ConnectionStatus {
  state: ConnectionStateName | 'stopped';
  reason: string;
  /** Delay before the pending retry, while disconnected or suspended. */
  retryInMs?: number;
  /** Failed attempts since the connection was last stable. */
  attempt: number;
  sessionId?: string;
  /** Largest frame the hub accepts, from `connect_ack` (while connected). */
  maxFrameBytes?: number;
  /** The last close code seen, e.g. `{ code: 4003, reason: 'replaced' }`. */
  lastClose?: { code: number; reason: string };
  /** The hub's `error` message that came with a refused handshake. */
  hubError?: string;
  /**
   * The last TLS or proxy failure since the connection was last up, naming the host and the
   * remedy (the reason is `tls_…` or `proxy_…` while it waits to retry).
   */
  networkError?: string;
}

/** Flattens the machine's state value (`{ online: 'connected' }` → `connected`). */
export function connectionStateName(value: unknown): ConnectionStateName {
  if (value === 'retrying') return 'disconnected';
  if (value === 'authorizing') return 'connecting';
  if (typeof value === 'string') return value as ConnectionStateName;
  const online = (value as { online?: unknown }).online;
  if (online === 'connected' || online === 'closing') return online;
  return 'connecting';
}
