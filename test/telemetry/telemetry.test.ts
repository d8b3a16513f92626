import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ApiError } from '../../src/api/api-error.ts';
import type { TelemetryEvent } from '../../src/api/contract.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { createMemoryRecordLog, openRecordLog, type RecordLog } from '../../src/storage/record-log.ts';
import { Telemetry, TelemetryError, type TelemetryOptions } from '../../src/telemetry/telemetry.ts';
import { flush } from '../support/harness.ts';
import { until } from '../support/loopback.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudtether-telemetry-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A sink the test answers: each call waits for `answer` (or answers at once with `auto`). */
function sink(auto: true | Error = true) {
  const batches: TelemetryEvent[][] = [];
  const behaviour: { next: Array<true | Error>; auto: true | Error } = { next: [], auto };
  const send = async (batch: TelemetryEvent[]) => {
    batches.push(batch);
    const outcome = behaviour.next.shift() ?? behaviour.auto;
    if (outcome !== true) throw outcome;
  };
  return { batches, behaviour, send };
}

function telemetry(options: Partial<TelemetryOptions> & { log?: RecordLog<TelemetryEvent> } = {}) {
  const clock = new SimulatedClock();
  const out = sink();
  const client = new Telemetry({
    log: createMemoryRecordLog(),
    send: out.send,
    clock,
    logger: silentLogger(),
    enabled: true,
    policy: { batchSize: 3, flushIntervalMs: 10_000, maxQueue: 5, retryBaseMs: 1_000, retryCapMs: 8_000 },
    ...options,
  });
  return { clock, client, ...out };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await flush();
};
const serverError = () =>
  new ApiError('server', 'POST /v1/telemetry: 503', { method: 'POST', path: '/v1/telemetry', status: 503, attempts: 1 });

describe('telemetry client', () => {
  it('batches by count and by time', async () => {
    const { client, clock, batches } = telemetry();
    client.track('task.started', { n: 1 });
    client.track('task.started', { n: 2 });
    await settle();
    expect(batches).toHaveLength(0);
    client.track('task.started', { n: 3 }); // the batch size: out at once
    await settle();
    clock.increment(0);
    await settle();
    expect(batches.map((b) => b.map((e) => e.properties.n))).toEqual([[1, 2, 3]]);
    client.track('task.done', { n: 4 });
    await settle();
    clock.increment(9_999);
    await settle();
    expect(batches).toHaveLength(1);
    clock.increment(1);
    await settle();
    expect(batches.map((b) => b.map((e) => e.properties.n))).toEqual([[1, 2, 3], [4]]);
    expect(client.stats).toMatchObject({ sent: 4, batches: 2, queued: 0 });
  });

  it('keeps its queue across a restart (a file log) and sends it after', async () => {
    const path = join(dir, 'telemetry.log');
    const first = telemetry({ log: await openRecordLog<TelemetryEvent>(path) });
    first.behaviour.auto = new ApiError('network', 'POST /v1/telemetry: ECONNREFUSED', {
      method: 'POST',
      path: '/v1/telemetry',
      attempts: 1,
    });
    first.client.track('a.b', { n: 1 });
    first.client.track('a.b', { n: 2 });
    await settle();
    await first.client.stop();
    const reopened = await openRecordLog<TelemetryEvent>(path);
    expect(reopened.pending().map((r) => r.value.properties.n)).toEqual([1, 2]);
    const second = telemetry({ log: reopened });
    // Nothing goes before the connector starts (it has no credential yet).
    second.clock.increment(0);
    await settle();
    expect(second.batches).toEqual([]);
    second.client.start();
    second.clock.increment(0);
    await settle();
    expect(second.batches.map((b) => b.map((e) => e.properties.n))).toEqual([[1, 2]]);
    // Acknowledged on disk once the hub took it (real fsync: wait for it, do not sleep).
    await until(() => reopened.pending().length === 0);
    await second.client.stop();
    await reopened.close();
    const third = await openRecordLog<TelemetryEvent>(path);
    expect(third.pending()).toEqual([]);
    await third.close();
  });

  it('sends nothing without consent, drops the queue when consent is withdrawn, and is forced off by the environment', async () => {
    const off = telemetry({ enabled: false });
    expect(off.client.track('a.b')).toBe(false);
    const on = telemetry();
    on.client.track('a.b', { n: 1 });
    await settle();
    expect(on.client.stats.queued).toBe(1);
    on.client.setConsent(false);
    await settle();
    expect(on.client.stats).toMatchObject({ enabled: false, queued: 0 });
    on.clock.increment(60_000);
    await settle();
    expect(on.batches).toEqual([]);
    const forced = telemetry({ forcedOff: true });
    forced.client.setConsent(true);
    expect(forced.client.enabled).toBe(false);
    expect(forced.client.track('a.b')).toBe(false);
    // Off or not, a bad name is the host's bug: it throws, so it shows before a user opts in.
    expect(() => forced.client.track('Bad Name')).toThrow(TelemetryError);
    // Consent gone while the process was down: what was left is dropped at start, not sent.
    const log = createMemoryRecordLog<TelemetryEvent>();
    await log.append({ id: 'x', event: 'a.b', timestamp: 0, properties: {} });
    const later = telemetry({ log, enabled: false });
    await settle();
    expect(later.client.stats.queued).toBe(0);
  });

  it('redacts properties before they are queued, and refuses a bad event name', async () => {
    const { client, clock, batches } = telemetry();
    client.track('auth.refresh_failed', {
      reason: 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln',
      email: 'ada@example.com',
      token: 'abc',
      nested: { x: 1 },
      ok: true,
    });
    expect(() => client.track('Bad Name')).toThrow(TelemetryError);
    await client.flush();
    clock.increment(0);
    await settle();
    expect(batches[0]![0]!.properties).toEqual({ reason: '[redacted]', email: '[email]', token: '[redacted]', ok: true });
    expect(client.stats.dropped.invalid).toBe(1);
  });

  it('backs off on 5xx, 429 (at least its Retry-After) and network errors, and drops a batch the hub refuses', async () => {
    const { client, clock, batches, behaviour } = telemetry();
    behaviour.next.push(
      serverError(),
      new ApiError('rate_limited', '429', { method: 'POST', path: '/v1/telemetry', status: 429, retryAfterMs: 20_000, attempts: 1 }),
    );
    client.track('a.b', { n: 1 });
    await client.flush();
    expect(batches).toHaveLength(1);
    expect(client.stats.failures).toBe(1);
    // First backoff: within 1 s (full jitter).
    clock.increment(1_000);
    await settle();
    expect(batches).toHaveLength(2);
    // The 429 asked for 20 s: nothing before that.
    clock.increment(19_999);
    await settle();
    expect(batches).toHaveLength(2);
    clock.increment(1);
    await settle();
    expect(batches).toHaveLength(3);
    expect(client.stats).toMatchObject({ sent: 1, failures: 2, queued: 0 });

    behaviour.next.push(new ApiError('invalid_request', '400', { method: 'POST', path: '/v1/telemetry', status: 400, attempts: 1 }));
    client.track('a.b', { n: 2 });
    await client.flush();
    expect(client.stats).toMatchObject({ queued: 0, dropped: { rejected: 1 } });
    clock.increment(60_000);
    await settle();
    expect(batches).toHaveLength(4);
  });

  it('bounds its queue: the oldest go, counted, and the next batch reports how many', async () => {
    const { client, clock, batches, behaviour } = telemetry();
    behaviour.auto = serverError();
    for (let n = 1; n <= 3; n++) client.track('a.b', { n });
    await settle();
    clock.increment(0);
    await settle();
    expect(batches).toHaveLength(1);
    // The hub is away: 5 more, for a queue of 5.
    for (let n = 4; n <= 8; n++) client.track('a.b', { n });
    await settle();
    expect(client.stats).toMatchObject({ queued: 5, dropped: { full: 3 } });
    behaviour.auto = true;
    await client.flush();
    const sent = batches.slice(1).flat();
    expect(sent.filter((e) => e.event === 'a.b').map((e) => e.properties.n)).toEqual([4, 5, 6, 7, 8]);
    expect(sent.filter((e) => e.event === 'telemetry.dropped').map((e) => e.properties)).toEqual([{ count: 3, reason: 'queue_full' }]);
    // The report takes a place in its batch: no batch goes over the batch size (the hub's cap is 500).
    expect(batches.every((b) => b.length <= 3)).toBe(true);
  });

  it('picks up again after consent is withdrawn and given back during a backoff', async () => {
    const { client, clock, batches, behaviour } = telemetry();
    behaviour.next.push(serverError());
    client.track('a.b', { n: 1 });
    await client.flush();
    client.setConsent(false);
    client.setConsent(true);
    for (let n = 2; n <= 4; n++) client.track('a.b', { n });
    await settle();
    clock.increment(0);
    await settle();
    expect(batches.at(-1)?.map((e) => e.properties.n)).toEqual([2, 3, 4]);
  });

  it('keeps a batch that found no credential yet and sends it once there is one', async () => {
    const { client, clock, batches, behaviour } = telemetry();
    behaviour.next.push(
      new ApiError('authentication', 'POST /v1/telemetry: no credential yet', { method: 'POST', path: '/v1/telemetry', attempts: 1 }),
    );
    client.track('a.b', { n: 1 });
    await client.flush();
    expect(client.stats).toMatchObject({ queued: 1, dropped: { rejected: 0 } });
    clock.increment(1_000);
    await settle();
    expect(batches).toHaveLength(2);
    expect(client.stats).toMatchObject({ queued: 0, sent: 1 });
  });
});
