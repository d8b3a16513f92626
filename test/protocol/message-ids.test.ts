import { describe, expect, it } from 'vitest';
import { MessageId } from '../../src/protocol/envelope.ts';
import { newMessageId } from '../../src/protocol/message-ids.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import { startHub, TestClient } from '../hub/helpers.ts';

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

  it("is what a hub's codec stamps; a codec made without `newId` stamps UUIDs, which a session replay pairs", async () => {
    const { hub, url } = await startHub();
    const { client, ack } = await TestClient.connect(url, { device_id: 'ids-1' });
    expect(ack.id).toMatch(/^[A-Za-z0-9_-]{12}\.[0-9a-z]+$/);
    client.close();
    await hub.close();
    const encoded = createCodec().encode({ type: 'heartbeat', seq: 1 } as never);
    expect(encoded.ok).toBe(true);
    if (encoded.ok) expect(encoded.value.message.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});
