import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StorageError } from '../../src/adapters/storage.ts';
import type { OutboxEntry } from '../../src/delivery/outbox.ts';
import type { JournalEntry } from '../../src/execution/executor.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { createMemoryRecordLog } from '../../src/storage/record-log.ts';
import { StorageHealth } from '../../src/storage/storage-health.ts';
import { SimulatedClock } from 'xstate';
import { executorFixture, fillableLog, request, settle } from '../support/execution-fixture.ts';

/** An executor whose outbox and journal fill up on demand, with storage health on its own clock. */
function fullDiskFixture() {
  const clock = new SimulatedClock();
  const outboxLog = fillableLog(createMemoryRecordLog<OutboxEntry>(), 'outbox.log');
  const journal = fillableLog(createMemoryRecordLog<JournalEntry>(), 'executions.log');
  let probeFails = true;
  const health = new StorageHealth({
    clock,
    logger: silentLogger(),
    probe: async () => {
      if (probeFails) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
    },
  });
  const fixture = executorFixture({ log: outboxLog, journal, health });
  fixture.handlers.register('tool', 'echo', { input: z.object({ n: z.number() }), run: ({ n }) => ({ n }) });
  const diskFull = (full: boolean) => {
    outboxLog.full = full;
    journal.full = full;
    probeFails = full;
  };
  return { ...fixture, health, healthClock: clock, diskFull };
}

describe('executor on a failing store', () => {
  it('refuses a request it cannot journal, and every request after it at once, saying it is saturated', async () => {
    const { executor, health, diskFull } = fullDiskFixture();
    diskFull(true);
    await expect(executor.receive(request({ request_id: 'a', job_type: 'tool', tool_name: 'echo', inputs: { n: 1 } }))).rejects.toThrow(
      StorageError,
    );
    expect(health.failing).toBe(true);
    expect(executor.capacity.saturated).toBe(true);
    await expect(executor.receive(request({ request_id: 'b', job_type: 'tool', tool_name: 'echo', inputs: { n: 2 } }))).rejects.toThrow(
      /storage is failing; request refused/,
    );
  });

  it('refuses, never waits, when the failure refusing a request (an unknown tool) cannot be stored, so the requests behind it are not held up', async () => {
    const { executor, health, diskFull, messages } = fullDiskFixture();
    diskFull(true);
    // Storage is not known to fail yet: the refusal's terminal event is the first write that fails.
    await expect(executor.receive(request({ request_id: 'x', job_type: 'tool', tool_name: 'missing' }))).rejects.toThrow(StorageError);
    expect(health.failing).toBe(true);
    expect(messages()).toEqual([]);
  });

  it('keeps accepted work: events wait in memory, in order, and are stored once a probe finds room; the journal is settled then', async () => {
    const { executor, health, healthClock, diskFull, outbox, journal, typesOf, usageOf } = fullDiskFixture();
    await executor.receive(request({ request_id: 'a', job_type: 'tool', tool_name: 'echo', inputs: { n: 1 } }));
    // The disk fills while `a` runs: its end cannot be stored.
    diskFull(true);
    await settle();
    expect(health.failing).toBe(true);
    expect(outbox.waiting).toBeGreaterThan(0);
    expect(journal.pending()).toHaveLength(1);
    diskFull(false);
    healthClock.increment(200);
    await settle();
    expect(health.status).toEqual({ state: 'ok', reason: 'recovered' });
    expect(outbox.waiting).toBe(0);
    expect(typesOf('a')).toEqual(['accepted', 'started', 'completed']);
    expect(usageOf('a')).toHaveLength(1);
    expect(journal.pending()).toEqual([]);
    // An end stored only after storage recovered is remembered as well: a redelivery gets it again.
    const terminal = outbox.entries().at(-2)!.value.message;
    expect(terminal).toMatchObject({ event_type: 'completed' });
    await executor.receive(request({ request_id: 'a', job_type: 'tool', tool_name: 'echo', inputs: { n: 1 } }));
    await settle();
    expect(typesOf('a')).toEqual(['accepted', 'started', 'completed', 'completed']);
    expect(outbox.entries().at(-2)!.value.message).toEqual(terminal);
    expect(new Set(usageOf('a').map((u) => u.id)).size).toBe(1);
  });
});
