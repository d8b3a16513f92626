/**
 * WebSocket close codes used by cloudtether, and what the connector does on each.
 * Standard codes (RFC 6455, IANA registry) where one fits; 4000-4999 for our own.
 * The table in docs/protocol.md is generated from {@link closeCodeTable}.
 */
export const CloseCode = {
  /** Orderly close by either side (`stop()`, hub shutting a session it no longer wants). */
  normal: 1000,
  /** The endpoint is going away (process exit, page unload). */
  goingAway: 1001,
  /** A frame broke the protocol badly enough to end the session (e.g. too many bad frames). */
  policyViolation: 1008,
  /** A frame exceeded the maximum frame size. */
  tooLarge: 1009,
  /** The other side failed on a valid frame (a bug there); reconnect with backoff. */
  internalError: 1011,
  /** The hub is restarting; reconnect after a jittered delay. */
  serverRestart: 1012,
  /** The hub is overloaded, or throttles the device's failed credentials; reconnect after a jittered delay. */
  tryAgainLater: 1013,
  /** The credential in `connect` was refused. */
  authFailed: 4001,
  /** The credential expired; get a fresh one before reconnecting. */
  tokenExpired: 4002,
  /** A newer connection of the same device replaced this one. */
  replaced: 4003,
  /** The frame's protocol version is not spoken by the other side. */
  unsupportedVersion: 4004,
  /** No `connect` (or no `connect_ack`) within the handshake timeout. */
  handshakeTimeout: 4005,
  /** The hub heard nothing from the device for heartbeat interval + timeout. */
  heartbeatTimeout: 4006,
  /** The device or its token was revoked at the hub. */
  revoked: 4007,
} as const;
export type CloseCodeName = keyof typeof CloseCode;

/**
 * What the connector does after a close:
 * - `retry`: reconnect with backoff (immediately for the first attempt after a drop),
 * - `retry_spread`: reconnect after a jittered delay over the restart window, so a hub restart
 *   does not bring every device back in the same millisecond,
 * - `reauth`: the credential was refused: get a fresh one (the auth machine refreshes once; a
 *   second refusal in a row is definitive), then reconnect,
 * - `fatal`: stop retrying and enter `failed`; the host may call `connect()` again.
 */
export type CloseDisposition = 'retry' | 'retry_spread' | 'reauth' | 'fatal';

export const closeCodeTable: ReadonlyArray<{
  code: number;
  name: string;
  sentBy: 'hub' | 'connector' | 'either';
  disposition: CloseDisposition;
  meaning: string;
}> = [
  {
    code: CloseCode.normal,
    name: 'normal',
    sentBy: 'either',
    disposition: 'retry',
    meaning: 'Orderly close. The connector reconnects unless it was the one stopping.',
  },
  {
    code: CloseCode.goingAway,
    name: 'going_away',
    sentBy: 'either',
    disposition: 'retry_spread',
    meaning: 'The endpoint is going away (process exit).',
  },
  {
    code: CloseCode.policyViolation,
    name: 'policy_violation',
    sentBy: 'either',
    disposition: 'retry',
    meaning: 'Protocol broken beyond an `error` frame (e.g. a frame before `connect`, a frame from the wrong side).',
  },
  {
    code: CloseCode.tooLarge,
    name: 'too_large',
    sentBy: 'either',
    disposition: 'retry',
    meaning: 'A frame exceeded the maximum frame size.',
  },
  {
    code: CloseCode.internalError,
    name: 'internal_error',
    sentBy: 'either',
    disposition: 'retry',
    meaning: 'The other side failed on a valid frame (a bug there).',
  },
  { code: CloseCode.serverRestart, name: 'server_restart', sentBy: 'hub', disposition: 'retry_spread', meaning: 'The hub is restarting.' },
  {
    code: CloseCode.tryAgainLater,
    name: 'try_again_later',
    sentBy: 'hub',
    disposition: 'retry_spread',
    meaning:
      'The hub is overloaded, or the `connect` came while failed credentials lock its address (or device) out: its `error` frame (`auth_failed`, `details.reason: too_many_attempts`, `details.retry_after_s`) says so, and the credential was not checked.',
  },
  {
    code: CloseCode.authFailed,
    name: 'auth_failed',
    sentBy: 'hub',
    disposition: 'reauth',
    meaning: 'The credential in `connect` was refused. One fresh token is tried; a second refusal in a row is final.',
  },
  {
    code: CloseCode.tokenExpired,
    name: 'token_expired',
    sentBy: 'hub',
    disposition: 'reauth',
    meaning: "The session's token expired without an in-band refresh. The connector refreshes and reconnects.",
  },
  {
    code: CloseCode.replaced,
    name: 'replaced',
    sentBy: 'hub',
    disposition: 'fatal',
    meaning: 'A newer connection of the same device replaced this one; reconnecting would fight it.',
  },
  {
    code: CloseCode.unsupportedVersion,
    name: 'unsupported_version',
    sentBy: 'either',
    disposition: 'fatal',
    meaning: 'The protocol version is not spoken by the other side.',
  },
  {
    code: CloseCode.handshakeTimeout,
    name: 'handshake_timeout',
    sentBy: 'either',
    disposition: 'retry',
    meaning: 'No `connect` or `connect_ack` within the handshake timeout.',
  },
  {
    code: CloseCode.revoked,
    name: 'revoked',
    sentBy: 'hub',
    disposition: 'fatal',
    meaning: 'The device or its token was revoked; retrying cannot help until it is enrolled again.',
  },
  {
    code: CloseCode.heartbeatTimeout,
    name: 'heartbeat_timeout',
    sentBy: 'hub',
    disposition: 'retry',
    meaning: 'The hub heard nothing from the device for heartbeat interval + timeout.',
  },
];

const byCode = new Map(closeCodeTable.map((row) => [row.code, row]));

/** The disposition of a close code; codes we do not know (1006 connection lost, …) are retried. */
export function closeDisposition(code: number): CloseDisposition {
  return byCode.get(code)?.disposition ?? 'retry';
}

/** A readable name for a close code, e.g. `4003` → `replaced`, `1006` (no close frame) → `connection_lost`. */
export function closeCodeName(code: number): string {
  return byCode.get(code)?.name ?? (code === 1006 ? 'connection_lost' : code === 1005 ? 'no_status' : `code_${code}`);
}
