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
  | 'invalid_state';

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
