import { randomBytes } from 'node:crypto';

/**
 * The random part every message id of this process starts with: 72 bits, so that among a
 * million processes (hub nodes, a hub before and after a restart, devices) two share one with a
 * chance of about 1 in 10^10, and a receiver's dedupe window does not take one process's message
 * for another's.
 */
const PROCESS_PREFIX = `${randomBytes(9).toString('base64url')}.`;
let counter = 0;

/**
 * A new message id, unique per sender as the envelope asks (src/protocol/envelope.ts): this
 * process's random prefix and a counter, never reused within the process. An id is only a key
 * for dedupe and for `ref_id`, never a secret, so it need not be unpredictable: a UUID per
 * frame was a share of each frame's CPU and allocation at the hub (bench/round-trip).
 *
 * @example
 * newMessageId(); // 'kS2vTq9x0Bf1.0', then 'kS2vTq9x0Bf1.1', …
 */
export function newMessageId(): string {
  return PROCESS_PREFIX + (counter++).toString(36);
}
