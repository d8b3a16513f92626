import { randomFillSync } from 'node:crypto';

/** UUIDs made per refill: one `randomFillSync` call for this many, as Node's own `randomUUID` caches. */
const BATCH = 128;
const UUID_CHARS = 36;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

const random = new Uint8Array(16 * BATCH);
/** The batch's UUIDs as text, 36 bytes each, cut out one at a time. */
const text = Buffer.allocUnsafe(UUID_CHARS * BATCH);
let next = BATCH;

/** Draws a new batch of random bytes and writes them out as version 4 UUIDs. */
function refill(): void {
  randomFillSync(random);
  let at = 0;
  for (let start = 0; start < random.length; start += 16) {
    random[start + 6] = (random[start + 6]! & 0x0f) | 0x40; // version 4
    random[start + 8] = (random[start + 8]! & 0x3f) | 0x80; // variant 10
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // '-'
      const byte = random[start + i]!;
      text[at++] = HEX[byte >> 4]!;
      text[at++] = HEX[byte & 0x0f]!;
    }
  }
  next = 0;
}

/**
 * A random (version 4) UUID in lower case, as `crypto.randomUUID()` gives, from the same source
 * (`randomFillSync`, a batch at a time). Made as one flat string cut out of a batch written as
 * bytes: Node's `randomUUID` joins twenty pieces per call, about 800 bytes of intermediate
 * strings that every execution's four event ids and the acks paid for in scavenges
 * (bench/round-trip, docs/performance.md).
 *
 * @example
 * randomUuid(); // '3b241101-e2bb-4255-8caf-4136c566a962'
 */
export function randomUuid(): string {
  if (next === BATCH) refill();
  const at = UUID_CHARS * next++;
  return text.toString('latin1', at, at + UUID_CHARS);
}
