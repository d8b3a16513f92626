import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { deferred, settle } from '../support/execution-fixture.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';

const TERMINAL = ['completed', 'failed', 'cancelled', 'timed_out'];

describe('executions between a connector and the real hub', () => {
  it('runs a tool, a playbook and a chain: events at the hub, the result, the execution over REST, and the usage ledger', async () => {
    const { hub, port, url } = await startHub();
    const { connector } = startConnector(url);
    connector.handle('tool', 'search', {
      input: z.object({ query: z.string() }),
      run: ({ query }, ctx) => {
        ctx.progress({ stage: 'searching' });
        ctx.reportUsage({ inputTokens: 12, outputTokens: 30, costEstimate: 0.002 });
        return { hits: [query] };
      },
    });
    connector.handle('playbook', 'report', {
      input: z.object({}).passthrough(),
      run: (_input, ctx) => ({ from: ctx.chain?.previous ?? null }),
    });
    connector.start();
    await connected(connector);

    const tool = hub.execute('dev-1', { request_id: 'r-tool', job_type: 'tool', tool_name: 'search', inputs: { query: 'q' } });
    const seen: string[] = [];
    tool.events.subscribe((event) => seen.push(event.event_type));
    expect(await tool.result).toEqual({
      request_id: 'r-tool',
      status: 'completed',
      data: { result: { hits: ['q'] }, duration_ms: expect.any(Number) },
    });
    expect(seen).toEqual(['accepted', 'started', 'progress', 'completed']);
    const playbook = await hub.execute('dev-1', { job_type: 'playbook', playbook_code: 'report' }).result;
    expect(playbook.status).toBe('completed');
    const chain = await hub.execute('dev-1', {
      request_id: 'r-chain',
      job_type: 'chain',
      steps: [
        { job_type: 'tool', tool_name: 'search', inputs: { query: 'c' } },
        { job_type: 'playbook', playbook_code: 'report' },
      ],
    }).result;
    expect(chain.data.result).toEqual({ output: { from: { hits: ['c'] } }, steps: [{ hits: ['c'] }, { from: { hits: ['c'] } }] });

    const rest = (await (await fetch(`http://127.0.0.1:${port}/v1/executions/r-tool`)).json()) as {
      status: string;
      events: Array<{ event_type: string }>;
    };
    expect(rest.status).toBe('completed');
    expect(rest.events.map((e) => e.event_type)).toEqual(['accepted', 'started', 'progress', 'completed']);
    // Reports reach the ledger after the terminal events: wait for the third.
    await until(() => hub.usage('local').totals.reports === 3);
    const usage = (await (await fetch(`http://127.0.0.1:${port}/v1/usage?tenant=local`)).json()) as { totals: Record<string, number> };
    expect(usage.totals).toMatchObject({ reports: 3, input_tokens: 24, output_tokens: 60 });
    expect(usage.totals.cost_estimate).toBeCloseTo(0.004);
  });

  it('dispatches, follows and cancels over REST', async () => {
    const { port, url } = await startHub({ adminToken: 'admin' });
    const { connector } = startConnector(url);
    const aborted = deferred<unknown>();
    connector.handle('tool', 'wait', {
      input: z.object({}),
      run: (_input, ctx) =>
        new Promise((_resolve, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborted.resolve(ctx.signal.reason);
            reject(new Error('stopped'));
          }),
        ),
    });
    connector.start();
    await connected(connector);
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { authorization: 'Bearer admin', 'content-type': 'application/json' } });
    expect((await fetch(`http://127.0.0.1:${port}/v1/executions/x`)).status).toBe(401);
    const created = await call('/v1/devices/dev-1/executions', {
      method: 'POST',
      body: JSON.stringify({ request_id: 'r-rest', job_type: 'tool', tool_name: 'wait' }),
    });
    expect(created.status).toBe(202);
    expect(await created.json()).toMatchObject({ request_id: 'r-rest' });
    await until(async () => ((await (await call('/v1/executions/r-rest')).json()) as { status: string }).status === 'running');
    expect((await call('/v1/executions/r-rest/cancel', { method: 'POST' })).status).toBe(202);
    expect(await aborted.promise).toEqual({ kind: 'cancelled', reason: 'cancelled at the hub' });
    await until(async () => ((await (await call('/v1/executions/r-rest')).json()) as { status: string }).status === 'cancelled');
    const bad = await call('/v1/devices/dev-1/executions', { method: 'POST', body: JSON.stringify({ job_type: 'tool' }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_message' });
    expect((await call('/v1/executions/nope')).status).toBe(404);
  });

  it('1,000 executions while the connection drops at random: one terminal event and one usage report each, none run twice', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url, { executions: { maxConcurrency: 8, maxQueue: 32 } });
    const runs = new Map<string, number>();
    connector.handle('tool', 'work', {
      input: z.object({ n: z.number() }),
      run: async ({ n }, ctx) => {
        runs.set(ctx.requestId, (runs.get(ctx.requestId) ?? 0) + 1);
        if (n % 3 === 0) ctx.progress({ n });
        // Some finish at once, some after the socket had time to drop under them.
        for (let i = 0; i < n % 4; i++) await new Promise<void>((resolve) => setImmediate(resolve));
        ctx.reportUsage({ inputTokens: 1 });
        return { n };
      },
    });
    connector.start();
    await connected(connector);

    const total = 1_000;
    // Seeded: the same drop moments on every run. A drop lands every 3–40 loop turns.
    const gaps = fc.sample(fc.integer({ min: 2, max: 8 }), { numRuns: 200, seed: 20261121 });
    let nextDrop = gaps.shift()!;
    let dropped = 0;
    let turn = 0;
    const maybeDrop = () => {
      if (++turn < nextDrop) return;
      nextDrop = turn + (gaps.shift() ?? 10);
      if (hub.faults.dropDevice('dev-1')) dropped += 1;
    };
    const handles = [];
    for (let i = 0; i < total; i++) {
      handles.push(
        hub.execute(
          'dev-1',
          { request_id: `r${i}`, job_type: 'tool', tool_name: 'work', inputs: { n: i }, timeout_ms: 86_400_000 },
          { tenantId: 'local' },
        ),
      );
      if (i % 10 === 0) {
        maybeDrop();
        await settle(1);
      }
    }
    // Drive reconnects: advance the connector's clock while it waits to retry.
    let finished = 0;
    void Promise.all(handles.map((h) => h.result.then(() => finished++)));
    while (finished < total) {
      maybeDrop();
      if (connector.status.connection.state !== 'connected') clock.increment(1_000);
      await settle(1);
    }
    await until(() => hub.usage('local').totals.reports === total);

    for (let i = 0; i < total; i++) {
      const execution = hub.execution(`r${i}`)!;
      expect(execution.status).toBe('completed');
      expect(execution.events.filter((e) => TERMINAL.includes(e.event_type))).toHaveLength(1);
    }
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
    expect(runs.size).toBe(total);
    const ledger = hub.usage('local');
    expect(new Set(ledger.reports.map((r) => r.request_id)).size).toBe(total);
    expect(dropped).toBeGreaterThanOrEqual(20);
    // Everything acknowledged: nothing waits on either side.
    await until(() => connector.executions.outboxDepth === 0);
    console.log(`1000 executions over ${dropped} dropped connections: 0 lost, 0 run twice`);
  });

  it('runs a request the hub sends twice only once; the copy is answered with the stored outcome, which the hub drops', async () => {
    const { hub, url } = await startHub();
    const { connector } = startConnector(url);
    let runs = 0;
    connector.handle('tool', 'count', { input: z.object({}), run: () => ++runs });
    connector.start();
    await connected(connector);
    const completed: string[] = [];
    hub.on('message', (_session, message) => {
      if (message.type === 'execution_event' && message.event_type === 'completed') completed.push(message.event_id);
    });
    const request = { type: 'execution_request', request_id: 'twice', job_type: 'tool', tool_name: 'count' } as const;
    hub.dispatch('dev-1', request);
    await until(() => completed.length === 1);
    hub.dispatch('dev-1', request);
    await until(() => connector.executions.outboxDepth === 0);
    await settle();
    expect(runs).toBe(1);
    expect(completed).toEqual(['twice:end']);
  });

  it('runs requests dispatched while the device was offline once it connects', async () => {
    const { hub, url } = await startHub();
    const ran: string[] = [];
    const result = hub.execute(
      'dev-1',
      { request_id: 'while-offline', job_type: 'tool', tool_name: 'note', inputs: {} },
      { tenantId: 'local' },
    );
    expect(hub.execution('while-offline')!.status).toBe('queued');
    const { connector, events } = startConnector(url);
    connector.handle('tool', 'note', { input: z.object({}), run: (_input, ctx) => ran.push(ctx.requestId) });
    connector.start();
    expect((await result.result).status).toBe('completed');
    expect(ran).toEqual(['while-offline']);
    expect(events).toContainEqual({ type: 'resume', status: 'resumed', missed: 0 });
  });

  it('reports an expired resume window to the host, and the request as undelivered at the hub', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub({ clock, delivery: { resumeWindowMs: 60_000 } });
    const late = hub.execute('dev-1', { request_id: 'too-late', job_type: 'tool', tool_name: 'note' }, { tenantId: 'local' });
    clock.increment(60_001);
    expect(await late.result).toMatchObject({ status: 'undelivered', data: { reason: 'resume_window_passed' } });
    const { connector, events } = startConnector(url, {}, clock);
    connector.start();
    await connected(connector);
    expect(events).toContainEqual({ type: 'resume', status: 'expired', missed: 1 });
  });

  it('says `reset` when the hub restarted and lost what it held', async () => {
    const first = await startHub();
    const { connector, events, clock } = startConnector(first.url);
    connector.handle('tool', 'note', { input: z.object({}), run: () => 'ok' });
    connector.start();
    await connected(connector);
    await first.hub.execute('dev-1', { job_type: 'tool', tool_name: 'note' }).result;
    await settle(); // the device's ack of seq 1 goes out
    await first.hub.close();
    await startHub({}, first.port);
    while (events.filter((e) => e.type === 'resume').length < 2) {
      clock.increment(1_000);
      await settle(1);
    }
    expect(events.filter((e) => e.type === 'resume')).toEqual([
      { type: 'resume', status: 'resumed', missed: 0 },
      { type: 'resume', status: 'reset', missed: 0 },
    ]);
  });

  it('holds requests at the hub while the device is saturated instead of having them refused', async () => {
    const { hub, url } = await startHub();
    const { connector } = startConnector(url, { executions: { maxConcurrency: 1, maxQueue: 1 } });
    const gates: Array<() => void> = [];
    connector.handle('tool', 'gate', { input: z.object({}), run: () => new Promise<void>((resolve) => gates.push(resolve)) });
    connector.start();
    await connected(connector);
    const handles = Array.from({ length: 6 }, (_, i) => hub.execute('dev-1', { request_id: `g${i}`, job_type: 'tool', tool_name: 'gate' }));
    // The device announced its room in `connect`: the hub sends two (one running, one queued) and holds four.
    await until(() => gates.length === 1);
    expect(hub.capacityOf({ device_id: 'dev-1', tenant_id: 'local' }).credit).toBe(2);
    expect(hub.capacityOf({ device_id: 'dev-1', tenant_id: 'local' }).outstanding).toBe(2);
    expect(handles.map((h) => hub.execution(h.requestId)!.status).filter((s) => s === 'queued')).toHaveLength(4);
    while (handles.some((h) => hub.execution(h.requestId)!.status !== 'completed')) {
      gates.shift()?.();
      await settle(2);
    }
    const results = await Promise.all(handles.map((h) => h.result));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('completed'));
  });

  it("keeps tenants apart: a device cannot report on, or bill, another tenant's request; its usage is booked to its own tenant", async () => {
    const { hub, url } = await startHub();
    const a = startConnector(url, { deviceId: 'dev-a', tenantId: 'acme' });
    const b = startConnector(url, { deviceId: 'dev-b', tenantId: 'globex' });
    const gate = deferred();
    b.connector.handle('tool', 'slow', { input: z.object({}), run: () => gate.promise });
    a.connector.start();
    b.connector.start();
    await Promise.all([connected(a.connector), connected(b.connector)]);
    const victim = hub.execute('dev-b', { request_id: 'globex-req', job_type: 'tool', tool_name: 'slow' }, { tenantId: 'globex' });
    await until(() => hub.execution('globex-req')!.status === 'running');
    a.connector.send({
      type: 'execution_event',
      event_id: 'forged',
      request_id: 'globex-req',
      event_type: 'completed',
      data: { result: 'forged' },
    });
    a.connector.send({ type: 'usage_report', request_id: 'globex-req', executor_device_id: 'dev-b', metrics: { duration_ms: 99_999 } });
    // A report of its own, applied after the forged ones: once it is booked, they were handled.
    a.connector.send({ type: 'usage_report', request_id: 'acme-own', executor_device_id: 'dev-b', metrics: { duration_ms: 5 } });
    await until(() => hub.usage('acme').totals.reports === 1);
    expect(hub.execution('globex-req')!.status).toBe('running');
    // Booked to the session's tenant and device, whatever the frame says; the forged one not at all.
    expect(hub.usage('acme').reports).toEqual([expect.objectContaining({ tenant_id: 'acme', device_id: 'dev-a', request_id: 'acme-own' })]);
    gate.resolve();
    expect((await victim.result).status).toBe('completed');
    await until(() => hub.usage('globex').totals.reports === 1);
    expect(hub.usage('globex').totals.duration_ms).toBeLessThan(99_999);
  });
});
