/**
 * What the executor stores for one job, as the outbox benchmarks write it: `accepted`,
 * `started`, `completed` with a result of a few hundred bytes, and the usage report. No
 * `progress` events: past `maxEntries` the outbox refuses them, and a 100,000-entry outbox is
 * past it.
 */
import { randomUUID } from 'node:crypto';
import { type OutboxEntry, Outbox } from '../../src/delivery/outbox.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import type { Outbound } from '../../src/protocol/messages.ts';
import type { RecordLog } from '../../src/storage/record-log.ts';

type Stored = Outbound<'execution_event' | 'usage_report'>;

/** A result of about 300 bytes: what a tool returns in a `completed` event. */
const RESULT = {
  summary: 'Fetched 42 rows from the orders table and wrote the report to the shared drive.',
  rows: 42,
  path: '/srv/reports/2026/11/orders-weekly.csv',
  checksum: 'sha256:9f2c1e0b7d4a8c3f6e5d2b1a0c9e8f7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f',
  warnings: ['column "discount" was empty in 3 rows'],
};

/** The four messages one job leaves in the outbox, with fresh ids (no envelope id: the outbox stamps it, as for the executor). */
export function jobMessages(deviceId = 'bench-device'): Stored[] {
  const request = randomUUID();
  const event = (type: 'accepted' | 'started' | 'completed', data: Record<string, unknown>): Stored => ({
    type: 'execution_event',
    event_id: `${request}:${type === 'completed' ? 'end' : type}`,
    request_id: request,
    event_type: type,
    data,
  });
  return [
    event('accepted', {}),
    event('started', {}),
    event('completed', { result: RESULT, duration_ms: 1_234 }),
    {
      type: 'usage_report',
      id: randomUUID(),
      ts: Date.now(),
      report_id: `usage:${request}`,
      request_id: request,
      executor_device_id: deviceId,
      metrics: { duration_ms: 1_234, token_usage: { input: 812, output: 230 } },
    },
  ];
}

/** `count` messages: whole jobs, cut at `count`. */
export function messages(count: number): Stored[] {
  const out: Stored[] = [];
  while (out.length < count) out.push(...jobMessages());
  return out.slice(0, count);
}

/** An outbox over `log` as the runtime builds one (`RemoteWork`): a device codec, the default policy, no connection. */
export function runtimeOutbox(log: RecordLog<OutboxEntry>): Outbox {
  const now = () => Date.now();
  return new Outbox({ log, codec: createCodec({ now, receiver: 'device' }), now, logger: silentLogger() });
}

/**
 * Runs `total` calls of `append` from `inFlight` workers, each awaiting its own before the next:
 * `inFlight` executions writing at once. Returns appends per second.
 */
export async function appendRate(total: number, inFlight: number, append: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) await append(next++);
    }),
  );
  return (total / (performance.now() - start)) * 1000;
}
