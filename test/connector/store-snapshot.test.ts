import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../src/connector/remote-work.ts';
import { restoreStore, snapshotStore } from '../../src/connector/store-snapshot.ts';
import { SETTINGS_CACHE } from '../../src/connector/settings.ts';
import { createRedactor } from '../../src/inspection-events/redact.ts';

describe('store snapshots for session recordings', () => {
  it('keeps the pending records with their sequence numbers and the settings cache, redacted; a restored store goes on numbering from there', async () => {
    let now = 1_000;
    const store = createMemoryStore(() => now);
    for (let i = 0; i < 3; i++) await store.outbox.append({ message: { type: 'usage_report', n: i } } as never);
    await store.outbox.ack(2);
    await store.journal.append({ request: { request_id: 'r-1', token: 'opaque-secret' } } as never);
    await store.files!.write(SETTINGS_CACHE, JSON.stringify({ format: 1, state: { values: { theme: 'dark' }, api_key: 'ctk_live_1' } }));

    const snapshot = await snapshotStore(store, createRedactor());
    expect(snapshot.outbox).toEqual({ last_seq: 3, records: [{ seq: 3, at: 1_000, value: { message: { type: 'usage_report', n: 2 } } }] });
    expect(snapshot.journal.records[0]!.value).toEqual({ request: { request_id: 'r-1', token: '[redacted]' } });
    expect(JSON.parse(snapshot.files[SETTINGS_CACHE]!)).toEqual({ format: 1, state: { values: { theme: 'dark' }, api_key: '[redacted]' } });

    now = 2_000;
    const restored = await restoreStore(snapshot, () => now);
    expect(restored.outbox.pending()).toEqual(snapshot.outbox.records);
    expect((await restored.outbox.append({ message: { type: 'ack' } } as never)).seq).toBe(4);
    expect((await restored.files!.read(SETTINGS_CACHE))?.toString()).toBe(snapshot.files[SETTINGS_CACHE]);
  });

  it('restores an empty store from a session without a snapshot (version 1)', async () => {
    const restored = await restoreStore(undefined, () => 0);
    expect(restored.outbox.lastSeq).toBe(0);
    expect(restored.journal.pending()).toEqual([]);
    expect(await restored.files!.read(SETTINGS_CACHE)).toBeUndefined();
  });
});
