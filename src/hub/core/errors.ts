/** Why a hub call was refused. */
export type HubErrorCode =
  /** No session of that device (in that tenant) is open. */
  | 'not_connected'
  /** The device id is connected in more than one tenant; pass `tenantId`. */
  | 'ambiguous_device'
  /** The message is not one the hub may send, or does not match its schema. */
  | 'invalid_message'
  /** `createHub` options failed validation. */
  | 'invalid_options'
  /** The call does not fit the hub's lifecycle (listen twice, restart before listen, …). */
  | 'invalid_state'
  /** A token call on a hub created without the `tokens` option. */
  | 'tokens_disabled'
  /** A user code that is unknown, expired, or already approved or denied. */
  | 'unknown_user_code'
  /** A user id the hub was not configured with (`tokens.users`). */
  | 'unknown_user'
  /** The user is not a member of the organization asked for. */
  | 'not_a_member'
  /** Work for a device that is not connected needs its tenant named. */
  | 'tenant_required'
  /** A request id that was dispatched already. */
  | 'duplicate_request'
  /** The device has `delivery.maxQueuedPerDevice` messages waiting already. */
  | 'queue_full'
  /** No execution with that request id (or it was forgotten past `delivery.retainExecutions`). */
  | 'unknown_execution'
  /** A settings patch that is not an object of settings keys (1 to 128 characters) to JSON values. */
  | 'invalid_settings'
  /** A settings patch, or the document it would make, over `MAX_SETTINGS_BYTES` (64 KiB of JSON). */
  | 'too_large'
  /** Arguments that do not match the REST contract (`src/api/contract.ts`), e.g. an API key without permissions. */
  | 'invalid_request'
  /** No API key with that id in that tenant. */
  | 'unknown_api_key'
  /** The API key is revoked or expired: it cannot be rotated. */
  | 'api_key_revoked'
  /** The tenant holds as many API keys (or shares) as the hub keeps. */
  | 'limit_reached'
  /** The hub's engine (Redis) refused the connection, or is older than the hub needs. */
  | 'engine_unavailable';

/**
 * A typed error from the hub's public API. Switch on `code`, not on the message.
 *
 * @example
 * try {
 *   hub.dispatch('laptop-1', request);
 * } catch (error) {
 *   if (error instanceof HubError && error.code === 'not_connected') queueForLater(request);
 *   else throw error;
 * }
 */
export class HubError extends Error {
  override readonly name = 'HubError';
  constructor(
    readonly code: HubErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Why a hub token (device or user) was refused. */
export type TokenErrorCode =
  /** Not a compact JWS, or its claims are missing or of the wrong type. */
  | 'malformed'
  /** Signed with a key id we know, but the signature does not match (a forgery). */
  | 'bad_signature'
  /** `exp` is past, beyond the leeway. */
  | 'expired'
  /** `nbf` is ahead, beyond the leeway. */
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  /** The token's `tenant` is not the tenant the device claims. */
  | 'wrong_tenant'
  /** The token's `sub` is not the device id the device claims. */
  | 'wrong_subject'
  /** A user token issued on another device: its `device` is not the device id the device claims. */
  | 'wrong_device'
  /** The token, its device, or the user login it came from was revoked at the hub. */
  | 'revoked'
  /** No `kid`, or a key id the hub never had or has dropped after a rotation. */
  | 'unknown_key'
  /** Any `alg` but ES256: `none`, HS256 (key confusion), RS256, … */
  | 'unsupported_alg';

/**
 * A hub token (device or user) refused. Its message names the reason and never quotes the
 * token, so it is safe to log and to send back to the device.
 *
 * @example
 * try {
 *   await authority.verify(token, { tenant: 'acme', device: 'laptop-1' });
 * } catch (error) {
 *   if (error instanceof TokenError && error.code === 'expired') askForAFreshToken();
 * }
 */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    readonly code: TokenErrorCode,
    message: string = code,
  ) {
    super(message);
  }
}

/**
 * A write to a device's queue refused because this hub node no longer holds the device: another
 * node claimed it (its fence moved on). The node ends its session of the device (4003 `replaced`);
 * the new holder has the queue as the store kept it.
 */
export class StaleHolderError extends Error {
  override readonly name = 'StaleHolderError';
}

/** Whether an error is a refused write of a node that no longer holds the device (from the store, or ours). */
export function isStaleHolder(error: unknown): boolean {
  return error instanceof StaleHolderError || (error instanceof Error && error.message.startsWith('FENCED'));
}
