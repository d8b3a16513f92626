import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { HubDelivery } from '../../../src/hub/delivery/delivery.ts';
import { HubError } from '../../../src/hub/index.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createCodec } from '../../../src/protocol/codec.ts';
import { deferred, settle } from '../../support/execution-fixture.ts';
import { until } from '../../support/loopback.ts';
import { envelope, type Frame, ManualClock, startHub, TestClient, TOKEN } from '../helpers.ts';

const WHO = { device_id: 'device-1', tenant_id: 'tenant-1' };

/** A device that speaks the protocol by hand: `connect` with a resume cursor and capacity. */
async function device(url: string, resume?: { hub_epoch?: string; last_seq: number }, active?: string[]) {
  const client = await TestClient.open(url);
  client.send(
    envelope('connect', {
      ...WHO,
      token: TOKEN,
      ...(resume && { resume }),
      capacity: { running: 0, queued: 0, max_concurrency: 2, max_queue: 2, saturated: false, ...(active && { active }) },
    }),
  );
  const ack = await client.next();
  expect(ack.type).toBe('connect_ack');
  return { client, ack: ack as Frame & { resume: { status: string; hub_epoch: string; missed: number } } };
}

const tool = (request_id: string) => ({ request_id, job_type: 'tool' as const, tool_name: 'echo' });

describe('hub delivery', () => {
  it('numbers requests, resends what was not acknowledged on the next session, and skips what the cursor covers', async () => {
    const { hub, url } = await startHub();
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    hub.execute('device-1', tool('b'), { tenantId: 'tenant-1' });
    const first = await device(url);
    expect(first.ack.resume).toMatchObject({ status: 'resumed', missed: 0 });
    const sent = [await first.client.next(), await first.client.next()];
    expect(sent.map((f) => [f.request_id, f.seq])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    // Only `a` is acknowledged before the socket goes.
    first.client.send(envelope('ack', { seq: 1 }));
    await settle();
    await first.client.close();

    const second = await device(url, { hub_epoch: first.ack.resume.hub_epoch, last_seq: 1 });
    const again = await second.client.next();
    expect([again.request_id, again.seq]).toEqual(['b', 2]);
    expect(hub.execution('b')!.status).toBe('delivered');
  });

  it('answers a first connect without resume with resumed, its epoch and missed 0, and numbers from 1 on, across sessions', async () => {
    const { hub, url } = await startHub();
    const first = await device(url);
    expect(first.ack.resume).toEqual({ status: 'resumed', hub_epoch: expect.stringMatching(/^hub_/), missed: 0 });
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    expect(await first.client.next()).toMatchObject({ request_id: 'a', seq: 1 });
    first.client.send(envelope('ack', { seq: 1 }));
    await settle();
    await first.client.close();
    // A new session of the same hub process goes on from there: numbering is not per session.
    const second = await device(url, { hub_epoch: first.ack.resume.hub_epoch, last_seq: 1 });
    expect(second.ack.resume).toEqual({ status: 'resumed', hub_epoch: first.ack.resume.hub_epoch, missed: 0 });
    hub.execute('device-1', tool('b'), { tenantId: 'tenant-1' });
    expect(await second.client.next()).toMatchObject({ request_id: 'b', seq: 2 });
    // What the connector sends before it knows an epoch (a fresh process): the same answer.
    const other = await startHub();
    expect((await device(other.url, { last_seq: 0 })).ack.resume).toMatchObject({ status: 'resumed', missed: 0 });
  });

  it('answers a cursor from another hub epoch reset when it had received something, and numbers from 1 again', async () => {
    const old = await startHub();
    const before = await device(old.url);
    const oldEpoch = before.ack.resume.hub_epoch;
    // Another hub process: a new epoch, and nothing of what the old one held.
    const { hub, url } = await startHub();
    const reset = await device(url, { hub_epoch: oldEpoch, last_seq: 7 });
    expect(reset.ack.resume).toEqual({ status: 'reset', hub_epoch: expect.stringMatching(/^hub_/), missed: 0 });
    expect(reset.ack.resume.hub_epoch).not.toBe(oldEpoch);
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    expect(await reset.client.next()).toMatchObject({ request_id: 'a', seq: 1 });
    await reset.client.close();
    // A cursor of another epoch that had received nothing has lost nothing.
    expect((await device(url, { hub_epoch: oldEpoch, last_seq: 0 })).ack.resume.status).toBe('resumed');
  });

  it('answers a first connect expired when requests queued for the device waited past the resume window', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock, delivery: { resumeWindowMs: 60_000 } });
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    clock.advance(60_002);
    const { ack } = await device(url);
    expect(ack.resume).toMatchObject({ status: 'expired', missed: 1 });
    expect(hub.execution('a')!.status).toBe('undelivered');
  });

  it('counts a device message once however often it is resent, and acknowledges every copy', async () => {
    const { hub, url } = await startHub();
    const { client } = await device(url);
    const messages: string[] = [];
    hub.on('message', (_session, message) => messages.push(message.id));
    const report = envelope('usage_report', {
      seq: 1,
      report_id: 'usage:x',
      request_id: 'x',
      executor_device_id: 'device-1',
      metrics: { duration_ms: 5 },
    });
    client.send(report);
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
    client.send(report);
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
    // Another envelope for the same report id is a new message, but the ledger books the report once, and the host hears it once.
    client.send({ ...report, id: 'other-envelope', seq: 2 });
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 2 });
    expect(messages).toEqual([report.id]);
    expect(hub.usage('tenant-1').totals).toMatchObject({ reports: 1, duration_ms: 5 });
  });

  it("does not book a device's usage report for another device's request", async () => {
    const { hub, url } = await startHub();
    hub.execute('device-2', tool('theirs'), { tenantId: 'tenant-1' });
    const { client } = await device(url);
    client.send(
      envelope('usage_report', {
        seq: 1,
        report_id: 'usage:theirs',
        request_id: 'theirs',
        executor_device_id: 'device-2',
        metrics: { duration_ms: 1 },
      }),
    );
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 }); // acknowledged, so not resent for ever
    expect(hub.usage('tenant-1').totals.reports).toBe(0);
  });

  it('keeps the usage ledger across a hub restart when it has a path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-ledger-'));
    try {
      const path = join(dir, 'usage.log');
      const { hub, url } = await startHub({ staticToken: TOKEN, usageLedgerPath: path });
      const { client } = await device(url);
      client.send(
        envelope('usage_report', {
          seq: 1,
          report_id: 'usage:r1',
          request_id: 'r1',
          executor_device_id: 'device-1',
          metrics: { duration_ms: 7, cost_estimate: 0.5 },
        }),
      );
      expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
      await hub.close();

      const restarted = await startHub({ staticToken: TOKEN, usageLedgerPath: path });
      expect(restarted.hub.usage('tenant-1').reports).toEqual([
        expect.objectContaining({ report_id: 'usage:r1', device_id: 'device-1', metrics: { duration_ms: 7, cost_estimate: 0.5 } }),
      ]);
      // A resend after the restart is still booked once.
      const again = await device(restarted.url);
      again.client.send(
        envelope('usage_report', {
          seq: 1,
          report_id: 'usage:r1',
          request_id: 'r1',
          executor_device_id: 'device-1',
          metrics: { duration_ms: 7 },
        }),
      );
      expect(await again.client.next()).toMatchObject({ type: 'ack', seq: 1 });
      expect(restarted.hub.usage('tenant-1').totals.reports).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sends no more requests than the device announced room for, and more as they end', async () => {
    const { hub, url } = await startHub();
    for (const id of ['a', 'b', 'c', 'd', 'e']) hub.execute('device-1', tool(id), { tenantId: 'tenant-1' });
    const { client } = await device(url); // room for 2 running + 2 queued
    const received = [await client.next(), await client.next(), await client.next(), await client.next()];
    expect(received.map((f) => f.request_id)).toEqual(['a', 'b', 'c', 'd']);
    expect(hub.execution('e')!.status).toBe('queued');
    client.send(envelope('execution_event', { seq: 1, event_id: 'a:end', request_id: 'a', event_type: 'completed', data: {} }));
    const next = await client.next();
    const after = next.type === 'ack' ? await client.next() : next;
    expect(after).toMatchObject({ type: 'execution_request', request_id: 'e' });
  });

  it('takes back what the device refuses (nack), holds everything but cancels until it has room, then sends it again in order under new numbers', async () => {
    const { hub, url } = await startHub();
    for (const id of ['a', 'b', 'c']) hub.execute('device-1', tool(id), { tenantId: 'tenant-1' });
    const { client } = await device(url);
    const sent = [await client.next(), await client.next(), await client.next()];
    expect(sent.map((f) => [f.request_id, f.seq])).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
    // The device's disk is full: it says it is saturated, keeps `a`, and refuses `b` and `c`.
    client.send(envelope('capacity', { running: 1, queued: 0, max_concurrency: 2, max_queue: 2, saturated: true }));
    client.send(envelope('ack', { seq: 1 }));
    client.send(envelope('nack', { seq: 2, reason: 'storage_unavailable' }));
    client.send(envelope('nack', { seq: 3, reason: 'storage_unavailable' }));
    await until(() => hub.execution('c')!.status === 'queued');
    expect(hub.execution('b')!.status).toBe('queued');
    // A messaging event is held too (it would be refused the same way); a cancel is not.
    const chat = hub.sendMessagingEvent(
      'device-1',
      { channel: 'line', event_type: 'message', user_id: 'u-1', message: { text: 'hi' } },
      { tenantId: 'tenant-1' },
    );
    hub.cancelExecution('a');
    expect(await client.next()).toMatchObject({ type: 'execution_cancel', request_id: 'a', seq: 4 });
    // Room again: what was refused goes first, then what waited behind it.
    client.send(envelope('capacity', { running: 0, queued: 0, max_concurrency: 2, max_queue: 2, saturated: false }));
    const again = [await client.next(), await client.next(), await client.next()];
    expect(again.map((f) => [f.type, f.request_id ?? null, f.seq])).toEqual([
      ['execution_request', 'b', 5],
      ['execution_request', 'c', 6],
      ['messaging_event', chat.requestId, 7],
    ]);
    expect(hub.execution('b')!.status).toBe('delivered');
  });

  it('ignores a nack for a message that is not out', async () => {
    const { hub, url } = await startHub();
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    const { client } = await device(url);
    expect(await client.next()).toMatchObject({ request_id: 'a', seq: 1 });
    client.send(envelope('ack', { seq: 1 }));
    client.send(envelope('nack', { seq: 1, reason: 'storage_unavailable' }));
    client.send(envelope('nack', { seq: 99, reason: 'storage_unavailable' }));
    await settle();
    hub.execute('device-1', tool('b'), { tenantId: 'tenant-1' });
    expect(await client.next()).toMatchObject({ request_id: 'b', seq: 2 });
    expect(hub.execution('a')!.status).toBe('delivered');
  });

  it('recounts what is out at the device from what it says it holds when it reconnects', async () => {
    const { hub, url } = await startHub();
    for (const id of ['a', 'b', 'c', 'd', 'e']) hub.execute('device-1', tool(id), { tenantId: 'tenant-1' });
    const first = await device(url);
    for (let i = 0; i < 4; i++) await first.client.next();
    first.client.send(envelope('ack', { seq: 4 }));
    await settle();
    await first.client.close();
    // a, c and d finished while it was away (their events wait in its outbox); only b still runs.
    const second = await device(url, { hub_epoch: first.ack.resume.hub_epoch, last_seq: 4 }, ['b']);
    expect(await second.client.next()).toMatchObject({ type: 'execution_request', request_id: 'e', seq: 5 });
    expect(hub.capacityOf(WHO).outstanding).toBe(2);
  });

  it('keeps a cancel for a device that is away past the resume window', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock, delivery: { resumeWindowMs: 60_000 } });
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    const first = await device(url);
    await first.client.next();
    first.client.send(envelope('ack', { seq: 1 }));
    await settle();
    await first.client.close();
    hub.cancelExecution('a', 'too slow');
    clock.advance(120_000);
    const second = await device(url, { hub_epoch: first.ack.resume.hub_epoch, last_seq: 1 });
    expect(second.ack.resume).toMatchObject({ status: 'resumed', missed: 0 });
    expect(await second.client.next()).toMatchObject({ type: 'execution_cancel', request_id: 'a', reason: 'too slow' });
  });

  it('withdraws a request cancelled before it left the hub, and sends a cancel ahead of waiting work otherwise', async () => {
    const { hub, url } = await startHub();
    const waiting = hub.execute('device-1', tool('w'), { tenantId: 'tenant-1' });
    expect(await hub.cancelExecution('w', 'changed my mind')).toBe(true);
    expect(await waiting.result).toEqual({ request_id: 'w', status: 'cancelled', data: { reason: 'changed my mind', duration_ms: 0 } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) hub.execute('device-1', tool(id), { tenantId: 'tenant-1' });
    const { client } = await device(url);
    for (let i = 0; i < 4; i++) await client.next();
    hub.cancelExecution('a');
    expect(await client.next()).toMatchObject({ type: 'execution_cancel', request_id: 'a', seq: 5 });
    expect(await hub.cancelExecution('w')).toBe(false);
  });

  it('refuses what it cannot queue, with typed errors', async () => {
    const { hub } = await startHub();
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error instanceof HubError ? error.code : 'other';
      }
      return 'none';
    };
    expect(code(() => hub.execute('offline', tool('x')))).toBe('tenant_required');
    hub.execute('offline', tool('dup'), { tenantId: 't' });
    expect(code(() => hub.execute('offline', tool('dup'), { tenantId: 't' }))).toBe('duplicate_request');
    expect(code(() => hub.execute('offline', { job_type: 'tool' } as never, { tenantId: 't' }))).toBe('invalid_message');
    await expect(hub.cancelExecution('nope')).rejects.toMatchObject({ code: 'unknown_execution' });
  });
});

describe('hub delivery acknowledgements', () => {
  const info = { device_id: 'd1', tenant_id: 't1', session_id: 's1', connected_since: 0 };
  const event = {
    v: 1,
    id: 'ev-1',
    ts: 0,
    type: 'execution_event',
    event_id: 'r0:accepted',
    request_id: 'r0',
    event_type: 'accepted',
    data: {},
  } as const;
  const report = {
    v: 1,
    id: 'u-1',
    ts: 0,
    type: 'usage_report',
    seq: 2,
    report_id: 'usage:r1',
    request_id: 'r1',
    executor_device_id: 'd1',
    metrics: { duration_ms: 1 },
  } as const;

  function delivery(book: () => Promise<boolean>) {
    const acks: number[] = [];
    const closes: string[] = [];
    const sent = (m: { type: string; seq: number }) => void (m.type === 'ack' && acks.push(m.seq));
    const session = {
      send: sent,
      sendBuilt: sent,
      close: (_code: number, reason: string) => void closes.push(reason),
    } as never;
    const hubDelivery = new HubDelivery({
      sessions: { get: () => undefined, withDevice: () => [] } as never,
      codec: createCodec({ receiver: 'hub' }),
      clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} },
      logger: silentLogger(),
      options: { resumeWindowMs: 600_000, maxQueuedPerDevice: 100, defaultCredit: 4, dedupeWindow: 100, retainExecutions: 100 },
      ledger: () => ({ book }) as never,
      emitMessage: () => {},
    });
    return { hubDelivery, session, acks, closes };
  }

  it('never acknowledges a resend ahead of a message still being stored, and closes the session when storing fails', async () => {
    const booking = deferred<boolean>();
    const { hubDelivery, session, acks, closes } = delivery(() => booking.promise);
    hubDelivery.receive(session, info, { ...event, seq: 1 });
    await settle();
    expect(acks).toEqual([1]);
    hubDelivery.receive(session, info, report);
    hubDelivery.receive(session, info, { ...event, seq: 3 }); // a copy of seq 1, resent as seq 3
    await settle();
    expect(acks).toEqual([1]); // seq 3 waits for seq 2
    booking.reject(new Error('EIO'));
    await settle();
    expect(acks).toEqual([1]);
    expect(closes).toEqual(['storage_failed']);
  });

  it('acknowledges in turn once the slow write lands', async () => {
    const booking = deferred<boolean>();
    const { hubDelivery, session, acks } = delivery(() => booking.promise);
    hubDelivery.receive(session, info, report);
    hubDelivery.receive(session, info, { ...event, seq: 3 });
    await settle();
    expect(acks).toEqual([]);
    booking.resolve(true);
    await settle();
    expect(acks).toEqual([3]);
  });

  it('acknowledges in the write of the request its frame freed a slot for, not in a write of its own', async () => {
    const { hub, url } = await startHub();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await new Promise((resolve) => ws.once('open', resolve));
    // Which read of the socket each frame came in: frames of one write arrive in one read on loopback.
    let reads = 0;
    (ws as unknown as { _socket: Socket })._socket.on('data', () => reads++);
    const frames: Array<{ frame: Frame; read: number }> = [];
    ws.on('message', (data: Buffer) => frames.push({ frame: JSON.parse(data.toString('utf8')) as Frame, read: reads }));
    const capacity = { running: 0, queued: 0, max_concurrency: 1, max_queue: 0, saturated: false };
    ws.send(JSON.stringify(envelope('connect', { ...WHO, token: TOKEN, capacity })));
    await until(() => frames.some(({ frame }) => frame.type === 'connect_ack'));
    hub.execute('device-1', tool('a'), { tenantId: 'tenant-1' });
    hub.execute('device-1', tool('b'), { tenantId: 'tenant-1' });
    await until(() => frames.some(({ frame }) => frame.request_id === 'a'));
    // Its only slot is taken: `b` waits until `a` ends.
    expect(frames.some(({ frame }) => frame.request_id === 'b')).toBe(false);
    const end = { event_id: 'a:end', request_id: 'a', event_type: 'completed', data: {}, seq: 1 };
    ws.send(JSON.stringify(envelope('execution_event', end)));
    await until(() => frames.some(({ frame }) => frame.type === 'ack') && frames.some(({ frame }) => frame.request_id === 'b'));
    const request = frames.find(({ frame }) => frame.request_id === 'b')!;
    const ack = frames.find(({ frame }) => frame.type === 'ack')!;
    expect(ack.frame.seq).toBe(1);
    expect(ack.read).toBe(request.read);
    ws.close();
  });
});
