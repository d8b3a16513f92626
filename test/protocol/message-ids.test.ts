import { describe, expect, it } from 'vitest';
import { MessageId } from '../../src/protocol/envelope.ts';
import { newMessageId } from '../../src/protocol/message-ids.ts';
import { createCodec } from '../../src/protocol/codec.ts';

describe('newMessageId', () => {
  it('never gives the same id twice in a process, and each is a valid envelope id', () => {
    const ids = Array.from({ length: 100_000 }, () => newMessageId());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [ids[0]!, ids.at(-1)!]) expect(MessageId.safeParse(id).success).toBe(true);
  });

  it('starts every id with the same random prefix of this process (12 base64url characters), then a counter', () => {
    const [a, b] = [newMessageId(), newMessageId()];
    const prefix = /^([A-Za-z0-9_-]{12})\.([0-9a-z]+)$/;
    expect(a).toMatch(prefix);
    expect(b).toMatch(prefix);
    expect(a.match(prefix)![1]).toBe(b.match(prefix)![1]);
    expect(parseInt(b.match(prefix)![2]!, 36)).toBe(parseInt(a.match(prefix)![2]!, 36) + 1);
  });

  it('is what the codec stamps on an outbound frame that has no id', () => {
    const encoded = createCodec().encode({ type: 'heartbeat', seq: 1 } as never);
    expect(encoded.ok).toBe(true);
    if (encoded.ok) expect(encoded.value.message.id).toMatch(/^[A-Za-z0-9_-]{12}\.[0-9a-z]+$/);
  });
});
