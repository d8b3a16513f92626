import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { silentLogger } from '../../src/log/logger.ts';
import { StorageHealth } from '../../src/storage/storage-health.ts';
import { FrameError } from '../../src/protocol/codec.ts';
import { usageReportMessage } from '../../src/protocol/built-messages.ts';
import { executorFixture, settle } from '../support/execution-fixture.ts';

const usage = (request_id: string) =>
  ({ type: 'usage_report', request_id, executor_device_id: 'dev-1', metrics: { duration_ms: 1 } }) as const;

/** Frames sent by an attached outbox, decoded to (type, request id, seq). */
function wire() {
  const sent: Array<{ type: string; request_id: string; seq: number; id: string }> = [];
  const send = (frame: string) => {
    sent.push(JSON.parse(frame));
    return true;
  };
  return { sent, send };
}

describe('outbox', () => {
  it('stores first, sends with a per-device seq, and resends only the unacknowledged tail, in order, on the next connection', async () => {
    const { outbox } = executorFixture();
    await outbox.append(usage('r1'));
    await outbox.append(usage('r2'));
    const first = wire();
    outbox.attach(first.send);
    await outbox.append(usage('r3')); // connected: goes out as soon as it is stored
    expect(first.sent.map((m) => [m.request_id, m.seq])).toEqual([
      ['r1', 1],
      ['r2', 2],
      ['r3', 3],
    ]);
    await outbox.ack(1);
    outbox.detach();
    await outbox.append(usage('r4')); // offline: stored only
    expect(first.sent).toHaveLength(3);
    const second = wire();
    outbox.attach(second.send);
    expect(second.sent.map((m) => [m.request_id, m.seq])).toEqual([
      ['r2', 2],
      ['r3', 3],
      ['r4', 4],
    ]);
    // A resend carries the same envelope id: the hub drops the copy.
    expect(second.sent[0]!.id).toBe(first.sent[1]!.id);
    await outbox.ack(4);
    expect(outbox.depth).toBe(0);
  });

  it('stores each message as { message } with its envelope stamped, as a plain entry would serialise', async () => {
    const { outbox } = executorFixture();
    await outbox.append({ ...usage('r1'), id: 'm-1', ts: 7 });
    const [entry] = outbox.entries();
    expect(JSON.stringify(entry!.value)).toBe(JSON.stringify({ message: { ...usage('r1'), id: 'm-1', ts: 7 } }));
    expect(Object.keys(entry!.value)).toEqual(['message']);
  });

  it('gives the frame it made for the append just called, once, and none for another message', async () => {
    const { outbox } = executorFixture();
    const report = usageReportMessage('r1', 'dev-1', { durationMs: 1, inputTokens: 0, outputTokens: 0, costEstimate: 0 });
    const stored = outbox.appendBuilt(report);
    expect(outbox.takeFrame(usage('r1'))).toBeUndefined();
    const second = usageReportMessage('r2', 'dev-1', { durationMs: 1, inputTokens: 0, outputTokens: 0, costEstimate: 0 });
    void outbox.appendBuilt(second);
    const frame = outbox.takeFrame(second);
    expect(JSON.parse(frame!)).toEqual({ ...outbox.entries()[1]!.value.message, seq: 2, v: 1 });
    expect(outbox.takeFrame(second)).toBeUndefined();
    await stored;
  });

  for (const health of [false, true])
    it(`drops a stored entry over the hub's frame limit and still sends the one after it${health ? ', with storage health' : ''}`, async () => {
      // The memory log takes a settled record out of its pending list at once: the walk that drops one must not skip the next.
      const { outbox } = executorFixture(
        health ? { health: new StorageHealth({ clock: new SimulatedClock(), logger: silentLogger() }) } : {},
      );
      await outbox.append(usage('x'.repeat(250)));
      await outbox.append(usage('r2'));
      await outbox.append(usage('r3'));
      const link = wire();
      outbox.attach(link.send, 300);
      await settle();
      expect(link.sent.map((m) => m.seq)).toEqual([2, 3]);
      await outbox.ack(3);
      expect(outbox.depth).toBe(0);
    });

  it('keeps at most `window` entries in flight and lets more out as acks come in', async () => {
    const { outbox } = executorFixture({ outbox: { window: 2 } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await outbox.append(usage(id));
    const link = wire();
    outbox.attach(link.send);
    expect(link.sent.map((m) => m.request_id)).toEqual(['a', 'b']);
    await outbox.ack(1);
    expect(link.sent.map((m) => m.request_id)).toEqual(['a', 'b', 'c']);
    await outbox.ack(3);
    expect(link.sent.map((m) => m.request_id)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('drops entries past their TTL and reports them, usage reports counted apart', async () => {
    const { outbox, clock, losses } = executorFixture({ outbox: { ttlMs: 60_000 } });
    await outbox.append(usage('old'));
    await outbox.append({ type: 'execution_event', event_id: 'e', request_id: 'old', event_type: 'completed', data: {} });
    clock.increment(30_000);
    await outbox.append(usage('young'));
    clock.increment(30_001);
    const link = wire();
    outbox.attach(link.send);
    await settle();
    expect(losses).toEqual([{ kind: 'expired', count: 2, usageReports: 1, oldestAt: expect.any(Number) }]);
    expect(link.sent.map((m) => m.request_id)).toEqual(['young']);
    expect(outbox.depth).toBe(1);
  });

  it('refuses a message that does not encode before storing it', async () => {
    const { outbox } = executorFixture();
    const bad = { type: 'usage_report', request_id: '', executor_device_id: 'dev-1', metrics: { duration_ms: -1 } } as const;
    await expect(outbox.append(bad)).rejects.toBeInstanceOf(FrameError);
    expect(outbox.depth).toBe(0);
  });
});
