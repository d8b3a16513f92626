import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HubError } from '../../src/hub/index.ts';
import { settle } from '../support/execution-fixture.ts';
import { envelope, type Frame, startHub, TestClient, TOKEN } from './helpers.ts';

const WHO = { device_id: 'device-1', tenant_id: 'tenant-1' };

/** A device that speaks the protocol by hand: `connect` with a resume cursor and capacity. */
async function device(url: string, resume?: { hub_epoch?: string; last_seq: number }) {
  const client = await TestClient.open(url);
  client.send(
    envelope('connect', {
      ...WHO,
      token: TOKEN,
      ...(resume && { resume }),
      capacity: { running: 0, queued: 0, max_concurrency: 2, max_queue: 2, saturated: false },
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

  it('counts a device message once however often it is resent, and acknowledges every copy', async () => {
    const { hub, url } = await startHub();
    const { client } = await device(url);
    const messages: string[] = [];
    hub.on('message', (_session, message) => messages.push(message.id));
    const report = envelope('usage_report', { seq: 1, report_id: 'usage:x', request_id: 'x', executor_device_id: 'device-1', metrics: { duration_ms: 5 } });
    client.send(report);
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
    client.send(report);
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
    // Another envelope for the same report id is a new message, but the ledger books the report once.
    client.send({ ...report, id: 'other-envelope', seq: 2 });
    expect(await client.next()).toMatchObject({ type: 'ack', seq: 2 });
    expect(messages).toEqual([report.id, 'other-envelope']);
    expect(hub.usage('tenant-1').totals).toMatchObject({ reports: 1, duration_ms: 5 });
  });

  it('keeps the usage ledger across a hub restart when it has a path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-ledger-'));
    try {
      const path = join(dir, 'usage.log');
      const { hub, url } = await startHub({ staticToken: TOKEN, usageLedgerPath: path });
      const { client } = await device(url);
      client.send(envelope('usage_report', { seq: 1, report_id: 'usage:r1', request_id: 'r1', executor_device_id: 'device-1', metrics: { duration_ms: 7, cost_estimate: 0.5 } }));
      expect(await client.next()).toMatchObject({ type: 'ack', seq: 1 });
      await hub.close();

      const restarted = await startHub({ staticToken: TOKEN, usageLedgerPath: path });
      expect(restarted.hub.usage('tenant-1').reports).toEqual([expect.objectContaining({ report_id: 'usage:r1', device_id: 'device-1', metrics: { duration_ms: 7, cost_estimate: 0.5 } })]);
      // A resend after the restart is still booked once.
      const again = await device(restarted.url);
      again.client.send(envelope('usage_report', { seq: 1, report_id: 'usage:r1', request_id: 'r1', executor_device_id: 'device-1', metrics: { duration_ms: 7 } }));
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

  it('withdraws a request cancelled before it left the hub, and sends a cancel ahead of waiting work otherwise', async () => {
    const { hub, url } = await startHub();
    const waiting = hub.execute('device-1', tool('w'), { tenantId: 'tenant-1' });
    expect(hub.cancelExecution('w', 'changed my mind')).toBe(true);
    expect(await waiting.result).toEqual({ request_id: 'w', status: 'cancelled', data: { reason: 'changed my mind', duration_ms: 0 } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) hub.execute('device-1', tool(id), { tenantId: 'tenant-1' });
    const { client } = await device(url);
    for (let i = 0; i < 4; i++) await client.next();
    hub.cancelExecution('a');
    expect(await client.next()).toMatchObject({ type: 'execution_cancel', request_id: 'a', seq: 5 });
    expect(hub.cancelExecution('w')).toBe(false);
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
    expect(code(() => hub.cancelExecution('nope'))).toBe('unknown_execution');
  });
});
