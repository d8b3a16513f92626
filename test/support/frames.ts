import { createCodec } from '../../src/protocol/codec.ts';
import type { Outbound } from '../../src/protocol/messages.ts';

const codec = createCodec();

/** A valid v1 frame for `message` (envelope stamped), as the far end of a test socket sends it. */
export function frame(message: Outbound): string {
  const encoded = codec.encode(message);
  if (!encoded.ok) throw encoded.error;
  return encoded.value.frame;
}
