import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ExecutionEventRecord, ExecutionResult } from '../../../src/hub/delivery/executions.ts';
import { ManualClock } from '../../hub/helpers.ts';
import { settle } from '../../support/execution-fixture.ts';
import { captureLogs } from '../../support/log-capture.ts';
import { connected, startConnector, startHub, until } from '../../support/loopback.ts';
import { type RedisServer, startRedis } from '../../support/redis-server.ts';

/**
 * Several hub nodes on one real Redis, in this process, each on its own loopback port, with real
 * connectors: a device connected to any node is reached from every node (docs/scaling.md,
 * "Several nodes").
 */
const node = (redis: RedisServer, nodeId: string, port = 0) => startHub({ engine: { redis: redis.url }, nodeId }, port);
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'timed_out']);

/** Follows a handle: its events as they come, and its result once there. */
function follow(run: { events: { subscribe(next: (event: ExecutionEventRecord) => void): unknown }; result: Promise<ExecutionResult> }) {
  const events: ExecutionEventRecord[] = [];
  run.events.subscribe((event) => events.push(event));
  const followed = { events, result: undefined as ExecutionResult | undefined };
  void run.result.then((result) => (followed.result = result));
  return followed;
}

describe('hub nodes on one Redis', () => {
  it('runs work dispatched on one node on a device connected to another; the first node follows it to its end can cancel it, and gets its chat replies', async () => {
    const redis = await startRedis();
    const a = await node(redis, 'node-a');
    const b = await node(redis, 'node-b');
    const { connector } = startConnector(b.url);
    connector.handle('tool', 'echo', {
      input: z.object({ text: z.string() }),
      run: ({ text }, ctx) => {
        ctx.progress({ stage: 'echoing' });
        return { text };
      },
    });
    connector.handle('tool', 'wait', {
      input: z.object({}),
      run: (_input, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))),
    });
    connector.onMessaging('ws-1', (event) => ({ text: `echo: ${event.message.text}` }));
    connector.start();
    await connected(connector);
    expect(b.hub.devices().map((d) => d.device_id)).toEqual(['dev-1']);
    expect(a.hub.devices()).toEqual([]);

    const run = a.hub.execute(
      'dev-1',
      { request_id: 'r-echo', job_type: 'tool', tool_name: 'echo', inputs: { text: 'hi' } },
      { tenantId: 'local' },
    );
    const seen: string[] = [];
    run.events.subscribe((event) => seen.push(event.event_type));
    expect(await run.result).toEqual({
      request_id: 'r-echo',
      status: 'completed',
      data: { result: { text: 'hi' }, duration_ms: expect.any(Number) },
    });
    expect(seen).toEqual(['accepted', 'started', 'progress', 'completed']);
    expect(a.hub.execution('r-echo')?.status).toBe('completed');
    expect(b.hub.execution('r-echo')?.status).toBe('completed');
    // A node that neither dispatched it nor holds the device answers for it over REST, from Redis.
    const c = await node(redis, 'node-c');
    expect(c.hub.execution('r-echo')).toBeUndefined();
    // Without its tenant, work for a device held elsewhere is refused, and the message says what c knows.
    expect(() => c.hub.execute('dev-1', { job_type: 'tool', tool_name: 'echo' })).toThrow(
      "device 'dev-1' is not connected to this hub node (it may be to another); name its tenant",
    );
    const rest = async (id: string) =>
      (await (await fetch(`http://127.0.0.1:${c.port}/v1/executions/${id}`)).json()) as {
        status: string;
        events: Array<{ event_type: string }>;
      };
    await until(async () => (await rest('r-echo')).status === 'completed');
    expect((await rest('r-echo')).events.map((e) => e.event_type)).toEqual(['accepted', 'started', 'progress', 'completed']);
    expect((await fetch(`http://127.0.0.1:${c.port}/v1/executions/r-none`)).status).toBe(404);

    // A chat message sent on node a: the device's reply comes back to a.
    const message = { channel: 'line', event_type: 'message', message: { text: 'hi' }, user_id: 'U1', workspace_id: 'ws-1' } as const;
    const { reply } = a.hub.sendMessagingEvent('dev-1', message, { tenantId: 'local' });
    expect(await reply).toEqual({ status: 'completed', text: 'echo: hi' });

    const waiting = a.hub.execute('dev-1', { request_id: 'r-wait', job_type: 'tool', tool_name: 'wait' }, { tenantId: 'local' });
    await until(() => a.hub.execution('r-wait')?.status === 'running');
    expect(await a.hub.cancelExecution('r-wait', 'stop from node a')).toBe(true);
    expect((await waiting.result).status).toBe('cancelled');

    // Cancelled over REST on node c, which knows it only from Redis: a's handle ends cancelled.
    const other = a.hub.execute('dev-1', { request_id: 'r-wait-2', job_type: 'tool', tool_name: 'wait' }, { tenantId: 'local' });
    await until(async () => (await rest('r-wait-2')).status === 'running');
    const cancel = await fetch(`http://127.0.0.1:${c.port}/v1/executions/r-wait-2/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    expect((await other.result).status).toBe('cancelled');
    await until(async () => (await rest('r-wait-2')).status === 'cancelled');
    const again = await fetch(`http://127.0.0.1:${c.port}/v1/executions/r-wait-2/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);

    // Cancelled in code on node c, which knows it only from Redis: routed to the holder (b), a's handle ends cancelled.
    const third = a.hub.execute('dev-1', { request_id: 'r-wait-3', job_type: 'tool', tool_name: 'wait' }, { tenantId: 'local' });
    await until(async () => (await rest('r-wait-3')).status === 'running');
    expect(c.hub.execution('r-wait-3')).toBeUndefined();
    expect(await c.hub.cancelExecution('r-wait-3', 'stop from node c')).toBe(true);
    expect(await third.result).toMatchObject({ status: 'cancelled' });
    await until(async () => (await rest('r-wait-3')).status === 'cancelled');
    expect(await c.hub.cancelExecution('r-wait-3')).toBe(false);
    await expect(c.hub.cancelExecution('r-none')).rejects.toMatchObject({ code: 'unknown_execution' });
  });

  it('a device that connects to another node is replaced on the first with 4003, and the work follows it', async () => {
    const redis = await startRedis();
    const a = await node(redis, 'node-a');
    const b = await node(redis, 'node-b');
    const { connector: first } = startConnector(a.url);
    await (first.start(), connected(first));
    const { connector: second } = startConnector(b.url);
    second.handle('tool', 'echo', { input: z.object({ text: z.string() }), run: ({ text }) => ({ text, on: 'second' }) });
    second.start();
    const secondUp = await connected(second);
    const failed = await first.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection).toMatchObject({ reason: 'replaced', lastClose: { code: 4003 } });
    await until(() => a.hub.devices().length === 0);
    expect(b.hub.devices()).toEqual([expect.objectContaining({ session_id: secondUp.connection.sessionId })]);

    // Work dispatched on the node that lost the device reaches the one that has it.
    const result = await a.hub.execute('dev-1', { job_type: 'tool', tool_name: 'echo', inputs: { text: 'x' } }, { tenantId: 'local' })
      .result;
    expect(result).toMatchObject({ status: 'completed', data: { result: { text: 'x', on: 'second' } } });
  });

  it('a revocation made on one node closes the device on another, and it is refused there until lifted', async () => {
    const redis = await startRedis();
    const a = await node(redis, 'node-a');
    const b = await node(redis, 'node-b');
    const { connector } = startConnector(b.url);
    connector.start();
    await connected(connector);
    a.hub.revokeDevice('dev-1', { tenantId: 'local' });
    const failed = await connector.waitFor((s) => s.connection.state === 'failed');
    expect(failed.connection).toMatchObject({ reason: 'revoked', lastClose: { code: 4007 } });
    await until(() => b.hub.devices().length === 0);
    const { connector: again } = startConnector(b.url);
    again.start();
    expect((await again.waitFor((s) => s.connection.state === 'failed')).connection).toMatchObject({ reason: 'revoked' });

    a.hub.unrevokeDevice('dev-1', { tenantId: 'local' });
    // The lift reaches node b through the broker: a device tries again until it is let in.
    await until(async () => {
      const { connector: lifted } = startConnector(b.url);
      lifted.start();
      const state = await lifted.waitFor((s) => s.connection.state === 'connected' || s.connection.state === 'failed');
      return state.connection.state === 'connected';
    });
    expect(b.hub.devices().map((d) => d.device_id)).toEqual(['dev-1']);
  });

  it('settings changes, channel messages and capability reloads made on one node reach the device on another', async () => {
    const redis = await startRedis();
    const a = await node(redis, 'node-a');
    const b = await node(redis, 'node-b');
    const schema = z.object({ theme: z.enum(['light', 'dark']).default('light') });
    const { connector } = startConnector(b.url, {}, undefined, { settings: { schema } });
    const extension = connector.channel('extension');
    const commands: unknown[] = [];
    extension.on('start_task', z.object({ task_id: z.string() }), (payload) => commands.push(payload));
    const loaded: string[][] = [];
    connector.onCapabilityReload((packs) => {
      loaded.push(packs);
    });
    connector.start();
    await connected(connector);
    await until(() => connector.status.settings.state === 'synced' && extension.state === 'joined');

    await a.hub.settings.patchOrg('local', { theme: 'dark' });
    await until(() => (connector.settings.value as { theme: string }).theme === 'dark');
    // Node b's copy took the change too: a patch made there is on top of it, not refused.
    await until(() => b.hub.settings.org('local').version === 1);
    expect(await b.hub.settings.patchOrg('local', { theme: 'light' })).toMatchObject({ ok: true, document: { version: 2 } });
    await until(() => a.hub.settings.org('local').version === 2);

    a.hub.publish('local', 'extension', 'start_task', { task_id: 't-1' });
    await until(() => commands.length === 1);
    expect(commands).toEqual([{ task_id: 't-1' }]);

    expect(await a.hub.reloadCapabilities('dev-1', ['pack@2'], { tenantId: 'local' })).toEqual({ ok: true });
    expect(loaded).toEqual([['pack@2']]);
    await expect(a.hub.reloadCapabilities('dev-9', ['pack@2'], { tenantId: 'local' })).rejects.toMatchObject({ code: 'not_connected' });
  });

  it('a channel message published on one node reaches a device on another under the same offset, stored in the history once', async () => {
    const redis = await startRedis();
    const a = await node(redis, 'node-a');
    const logs = captureLogs('info');
    const b = await startHub({ engine: { redis: redis.url }, nodeId: 'node-b', logger: logs.logger });
    const { connector } = startConnector(b.url);
    const extension = connector.channel('extension');
    const got: unknown[] = [];
    extension.on('note', z.object({ n: z.number() }), (payload) => got.push(payload));
    connector.start();
    await connected(connector);
    await until(() => extension.state === 'joined');

    expect([
      await a.hub.publish('local', 'extension', 'note', { n: 1 }),
      await a.hub.publish('local', 'extension', 'note', { n: 2 }),
    ]).toEqual([1, 2]);
    await until(() => got.length === 2);
    // Node b numbers on from node a's offsets, and stored nothing twice (nothing refused, nothing logged).
    expect(await b.hub.publish('local', 'extension', 'note', { n: 3 })).toBe(3);
    await until(() => got.length === 3);
    await settle(20);
    expect(logs.lines.filter((line) => line.includes('channel history'))).toEqual([]);
  });

  it('work that waits past the resume window on the node holding the device ends undelivered on the node that dispatched it', async () => {
    const redis = await startRedis();
    // Both hubs on manual clocks that start at the same instant: the holder times the wait from when the work was queued.
    const options = { heartbeatIntervalMs: 600_000, heartbeatTimeoutMs: 600_000, delivery: { resumeWindowMs: 60_000 } };
    const a = await startHub({ engine: { redis: redis.url }, nodeId: 'node-a', clock: new ManualClock(), ...options });
    const clockB = new ManualClock();
    const b = await startHub({ engine: { redis: redis.url }, nodeId: 'node-b', clock: clockB, ...options });
    const { connector } = startConnector(b.url, { executions: { maxConcurrency: 1, maxQueue: 1 } });
    connector.handle('tool', 'hold', { input: z.object({}), run: () => new Promise(() => {}) });
    connector.start();
    await connected(connector);
    for (const request_id of ['h1', 'h2'])
      a.hub.execute('dev-1', { request_id, job_type: 'tool', tool_name: 'hold' }, { tenantId: 'local' });
    await until(() => b.hub.capacityOf({ device_id: 'dev-1', tenant_id: 'local' }).outstanding === 2);
    const late = follow(a.hub.execute('dev-1', { request_id: 'h3', job_type: 'tool', tool_name: 'hold' }, { tenantId: 'local' }));
    await until(() => b.hub.execution('h3')?.status === 'queued');
    clockB.advance(61_000);
    await until(() => late.result !== undefined);
    expect(late.result).toEqual({
      request_id: 'h3',
      status: 'undelivered',
      data: { reason: 'resume_window_passed', waited_ms: expect.any(Number) },
    });
    expect(a.hub.execution('h3')?.status).toBe('undelivered');
  });

  it(
    'a node that dies: its device reconnects to another node and resumes, no execution lost or run twice, every handle ends once',
    { timeout: 120_000 },
    async () => {
      const redis = await startRedis({ persistent: true });
      const origin = await node(redis, 'node-origin');
      const doomed = await node(redis, 'node-doomed');
      // One slot and one place in its queue: two requests out at the device, the rest wait in Redis.
      const { connector, clock, events } = startConnector(doomed.url, { executions: { maxConcurrency: 1, maxQueue: 1 } });
      const gates: Array<() => void> = [];
      const ran: string[] = [];
      connector.handle('tool', 'gate', {
        input: z.object({}),
        run: (_input, ctx) =>
          new Promise<string>((resolve) => {
            ran.push(ctx.requestId);
            ctx.reportUsage({ inputTokens: 1, outputTokens: 1 });
            gates.push(() => resolve(ctx.requestId));
          }),
      });
      connector.start();
      await connected(connector);
      const ids = Array.from({ length: 8 }, (_, i) => `g${i}`);
      const runs = ids.map((request_id) =>
        follow(origin.hub.execute('dev-1', { request_id, job_type: 'tool', tool_name: 'gate' }, { tenantId: 'local' })),
      );
      await until(() => gates.length === 1);
      gates[0]!();
      await until(() => gates.length === 2);
      await settle();

      // The node dies: no flush, no release, no close frames. Another takes its port.
      doomed.hub.faults.crash();
      const heir = await node(redis, 'node-heir', doomed.port);
      await until(
        () => events.filter((e) => e.type === 'resume').length >= 2,
        // Time moves only while the device waits to retry: pumped during a handshake it would time out.
        () => connector.status.connection.state === 'disconnected' && clock.increment(1_000),
      );
      expect(heir.hub.devices().map((d) => d.device_id)).toEqual(['dev-1']);

      for (let released = 1; released < ids.length; released++) {
        await until(() => gates.length > released);
        gates[released]!();
      }
      await until(() => runs.every((r) => r.result !== undefined));
      expect(runs.map((r) => r.result?.status)).toEqual(ids.map(() => 'completed'));
      expect(ran).toEqual(ids);
      for (const r of runs) expect(r.events.filter((e) => TERMINAL.has(e.event_type))).toHaveLength(1);
      // Each report booked once in Redis, whichever node it reached (the heir read back what the dead node booked).
      await until(() => heir.hub.usage('local').totals.reports === ids.length);
      await until(() => connector.executions.outboxDepth === 0);
      await settle();
      expect(
        heir.hub
          .usage('local')
          .reports.map((r) => r.request_id)
          .sort(),
      ).toEqual(ids);
    },
  );
});
