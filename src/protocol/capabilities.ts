/*
 * Optional protocol features (`connect.capabilities`, `connect_ack.capabilities`). Kept out of
 * the protocol entry point: the package's named exports stay those of v1.
 */

/** Reliable device-to-hub channel messages: `channel_message.seq`, answered by `channel_ack`. */
export const CHANNEL_ACK = 'channel_ack';

/** Every optional feature this build speaks. */
export const capabilitiesSpoken: readonly string[] = [CHANNEL_ACK];
