import { describe, expect, it } from 'vitest';
import { TelemetryAccepted } from '../../../src/api/contract.ts';
import { TelemetryStore } from '../../../src/hub/api/telemetry-store.ts';
import { ManualClock, startHub, TOKEN } from '../helpers.ts';
import { api, asDevice, keyOf, withKey } from '../api-helpers.ts';

const event = (
  id: string,
  name = 'connection.state_changed',
  properties: Record<string, string | number | boolean | null> = { to: 'connected' },
) => ({ id, event: name, timestamp: 1_700_000_000_000, properties });

describe('telemetry ingest', () => {
  it('accepts a batch (202), drops the copies of a retried one, and stores events per tenant', async () => {
    const clock = new ManualClock();
    const { hub, port } = await startHub({ staticToken: TOKEN, clock });
    const batch = {
      batch: [event('e1'), event('e2', 'execution.ended', { duration_ms: 12, ok: true, error: null })],
      sent_at: clock.now(),
    };

    const first = await api(port, 'POST', '/v1/telemetry', asDevice(), batch);
    expect(first.status).toBe(202);
    expect(TelemetryAccepted.parse(first.body)).toEqual({ accepted: 2, duplicates: 0 });
    const retried = await api(port, 'POST', '/v1/telemetry', asDevice(), { ...batch, batch: [...batch.batch, event('e3')] });
    expect(retried.body).toEqual({ accepted: 1, duplicates: 2 });

    const { secret } = keyOf(hub, 'tenant-2', ['telemetry:write']);
    expect((await api(port, 'POST', '/v1/telemetry', withKey(secret), { batch: [event('e1')], sent_at: 0 })).body).toEqual({
      accepted: 1,
      duplicates: 0,
    });

    const mine = await hub.api.telemetry('tenant-1');
    expect(mine.dropped).toBe(0);
    expect(mine.events).toEqual([
      { ...event('e1'), received_at: clock.now(), device_id: 'device-1' },
      { ...event('e2', 'execution.ended', { duration_ms: 12, ok: true, error: null }), received_at: clock.now(), device_id: 'device-1' },
      { ...event('e3'), received_at: clock.now(), device_id: 'device-1' },
    ]);
    const theirs = await hub.api.telemetry('tenant-2');
    expect(theirs.events).toEqual([{ ...event('e1'), received_at: clock.now(), api_key_id: expect.any(String) }]);
    expect(await hub.api.telemetry('tenant-3')).toEqual({ events: [], dropped: 0 });
  });

  it('refuses an invalid event (400), a body over 1 MiB (413), and a credential without telemetry:write (403)', async () => {
    const { hub, port } = await startHub();
    for (const name of ['Connection.Changed', 'has space', '.leading', '']) {
      const answer = await api(port, 'POST', '/v1/telemetry', asDevice(), { batch: [event('e1', name)], sent_at: 0 });
      expect(answer.status, name).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request', message: expect.any(String) });
    }
    for (const body of [
      { batch: [], sent_at: 0 },
      { batch: [{ ...event('e1'), properties: { nested: { no: 1 } } }], sent_at: 0 },
      'not json',
    ]) {
      expect((await api(port, 'POST', '/v1/telemetry', asDevice(), body)).status, JSON.stringify(body)).toBe(400);
    }
    const huge = { batch: [event('e1', 'big', { blob: 'x'.repeat(1000) })], sent_at: 0, padding: 'x'.repeat(1024 * 1024) };
    expect(await api(port, 'POST', '/v1/telemetry', asDevice(), huge)).toMatchObject({ status: 413, body: { error: 'too_large' } });
    const reader = keyOf(hub, 'tenant-1', ['usage:read']);
    expect((await api(port, 'POST', '/v1/telemetry', withKey(reader.secret), { batch: [event('e1')], sent_at: 0 })).status).toBe(403);
    expect((await hub.api.telemetry('tenant-1')).events).toEqual([]);
  });
});

describe('TelemetryStore', () => {
  it('keeps the newest events within its count and byte bounds, and counts what it evicts', async () => {
    const store = new TelemetryStore({ maxEvents: 3, maxBytes: 10_000, dedupeWindow: 100 });
    await store.ingest('acme', [event('a'), event('b')], { received_at: 1 });
    await store.ingest('acme', [event('c'), event('d'), event('e')], { received_at: 2 });
    expect((await store.of('acme')).events.map((e) => e.id)).toEqual(['c', 'd', 'e']);
    expect((await store.of('acme')).dropped).toBe(2);

    const bytes = new TelemetryStore({ maxEvents: 100, maxBytes: 2_500, dedupeWindow: 100 });
    const big = (id: string) => event(id, 'big', { blob: 'x'.repeat(1000) });
    await bytes.ingest('acme', [big('a'), big('b'), big('c')], { received_at: 1 });
    expect(await bytes.of('acme')).toMatchObject({ events: [{ id: 'b' }, { id: 'c' }], dropped: 1 });
  });

  it('forgets ids past its dedupe window, and counts copies within one batch', async () => {
    const store = new TelemetryStore({ maxEvents: 100, maxBytes: 1_000_000, dedupeWindow: 2 });
    expect(await store.ingest('acme', [event('a'), event('a'), event('b')], { received_at: 1 })).toEqual({ accepted: 2, duplicates: 1 });
    await store.ingest('acme', [event('c')], { received_at: 1 });
    expect(await store.ingest('acme', [event('a')], { received_at: 1 })).toEqual({ accepted: 1, duplicates: 0 });
  });
});
