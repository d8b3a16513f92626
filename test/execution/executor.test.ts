import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { afterHeldWrites } from '../../src/adapters/write-batch.ts';
import type { JournalEntry } from '../../src/execution/executor.ts';
import { ExecutionError } from '../../src/execution/handlers.ts';
import { createMemoryRecordLog, type RecordLog } from '../../src/storage/record-log.ts';
import { deferred, executorFixture, request, settle } from '../support/execution-fixture.ts';

const echo = { input: z.object({ text: z.string() }), run: ({ text }: { text: string }) => ({ text }) };

describe('executor', () => {
  it('runs a tool: accepted, started, progress n, completed with the result, and one usage report with the handler usage', async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'summarize', {
      input: z.object({ text: z.string() }),
      async run({ text }, ctx) {
        ctx.progress({ stage: 'reading' });
        ctx.progress({ stage: 'writing' });
        ctx.reportUsage({ inputTokens: 100, outputTokens: 20, costEstimate: 0.01 });
        ctx.reportUsage({ inputTokens: 5 });
        f.clock.increment(1_500);
        return { summary: text.slice(0, 5) };
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'summarize', inputs: { text: 'hello world' } }));
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'progress', 'progress', 'completed']);
    const events = f.eventsOf('r1');
    expect(events.filter((e) => e.event_type === 'progress').map((e) => e.data)).toEqual([
      { n: 1, stage: 'reading' },
      { n: 2, stage: 'writing' },
    ]);
    expect(f.terminalOf('r1')!.data).toEqual({ result: { summary: 'hello' }, duration_ms: 1_500 });
    expect(f.usageOf('r1')).toEqual([
      expect.objectContaining({
        report_id: 'usage:r1',
        executor_device_id: 'dev-1',
        metrics: { duration_ms: 1_500, token_usage: { input: 105, output: 20 }, cost_estimate: 0.01 },
      }),
    ]);
    // The journal entry is settled once the end is stored.
    expect(f.journal.pending()).toEqual([]);
  });

  it("tells onEnded after the turn's frames are written, the end's events stored and its journal entry settled before them", async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'echo', echo);
    const atWrite: string[] = [];
    // What runs right after the turn's write (src/adapters/write-batch.ts) sees what was done before it.
    afterHeldWrites(() => atWrite.push(`${f.typesOf('r1').join(',')}; ended ${f.ended.length}; journal ${f.journal.pending().length}`));
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'echo', inputs: { text: 'a' } }));
    await settle();
    expect(atWrite).toEqual(['accepted,started,completed; ended 0; journal 0']);
    expect(f.ended).toEqual([{ requestId: 'r1', jobType: 'tool', outcome: 'completed', durationMs: 0 }]);
    expect(f.journal.pending()).toEqual([]);
  });

  it('reports zero usage for a run that reports none, whatever other runs reported before or beside it', async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'metered', {
      input: z.object({}),
      run: (_input, ctx) => (ctx.reportUsage({ inputTokens: 9, costEstimate: 0.5 }), {}),
    });
    f.handlers.register('tool', 'echo', echo);
    await f.executor.receive(request({ request_id: 'm1', job_type: 'tool', tool_name: 'metered', inputs: {} }));
    await f.executor.receive(request({ request_id: 'e1', job_type: 'tool', tool_name: 'echo', inputs: { text: 'a' } }));
    await settle();
    await f.executor.receive(request({ request_id: 'e2', job_type: 'tool', tool_name: 'echo', inputs: { text: 'b' } }));
    await settle();
    expect(f.usageOf('m1')[0]!.metrics).toEqual({ duration_ms: 0, token_usage: { input: 9, output: 0 }, cost_estimate: 0.5 });
    expect(f.usageOf('e1')[0]!.metrics).toEqual({ duration_ms: 0 });
    expect(f.usageOf('e2')[0]!.metrics).toEqual({ duration_ms: 0 });
  });

  it('ctx functions work taken off the context, and a step outside a chain has no chain property', async () => {
    const f = executorFixture();
    let seen: { hasChain: boolean; now: number; aborted: boolean } | undefined;
    f.handlers.register('tool', 'detached', {
      input: z.object({}),
      async run(_input, ctx) {
        // Destructured, as handlers do: each function must still reach its own run.
        const { progress, reportUsage, sleep, now, signal } = ctx;
        progress({ stage: 'one' });
        reportUsage({ inputTokens: 7 });
        const waited = sleep(10);
        f.clock.increment(10);
        await waited;
        seen = { hasChain: 'chain' in ctx, now: now(), aborted: signal.aborted };
        return {};
      },
    });
    const started = f.clock.now();
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'detached' }));
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'progress', 'completed']);
    expect(f.eventsOf('r1').find((e) => e.event_type === 'progress')!.data).toEqual({ n: 1, stage: 'one' });
    expect(f.usageOf('r1')[0]!.metrics.token_usage).toEqual({ input: 7, output: 0 });
    expect(seen).toEqual({ hasChain: false, now: started + 10, aborted: false });
  });

  it('fails with the structured error a handler throws, and with handler_error for anything else', async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'strict', {
      input: z.object({}),
      run: () => {
        throw new ExecutionError('quota_exceeded', 'the search quota is used up', { resets_at: 123 });
      },
    });
    f.handlers.register('playbook', 'buggy', {
      input: z.object({}),
      run: async () => {
        throw new TypeError('x is undefined');
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'strict' }));
    await f.executor.receive(request({ request_id: 'r2', job_type: 'playbook', playbook_code: 'buggy' }));
    await settle();
    expect(f.terminalOf('r1')).toMatchObject({
      event_type: 'failed',
      data: { error: { code: 'quota_exceeded', message: 'the search quota is used up', details: { resets_at: 123 } } },
    });
    expect(f.terminalOf('r2')).toMatchObject({
      event_type: 'failed',
      data: { error: { code: 'handler_error', message: 'x is undefined' } },
    });
    expect(f.usageOf('r1')).toHaveLength(1);
    expect(f.usageOf('r2')).toHaveLength(1);
  });

  it('fails an unknown job type and invalid input at once, without running anything', async () => {
    const f = executorFixture();
    let runs = 0;
    f.handlers.register('tool', 'echo', { ...echo, run: (input) => (runs++, input) });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'nope' }));
    await f.executor.receive(request({ request_id: 'r2', job_type: 'tool', tool_name: 'echo', inputs: { text: 42 } }));
    await settle();
    expect(f.typesOf('r1')).toEqual(['failed']);
    expect(f.terminalOf('r1')!.data).toMatchObject({ error: { code: 'unknown_job_type', details: { job_type: 'tool', name: 'nope' } } });
    expect(f.typesOf('r2')).toEqual(['failed']);
    expect(f.terminalOf('r2')!.data).toMatchObject({
      error: { code: 'invalid_input', details: { issues: [expect.objectContaining({ path: ['text'] })] } },
    });
    expect(runs).toBe(0);
    expect(f.usageOf('r1')).toHaveLength(1);
  });

  it('ctx.sleep waits on the connector clock and ctx.now reads it; a cancel ends the wait with an AbortError', async () => {
    const f = executorFixture();
    const times: number[] = [];
    let waitError: Error | undefined;
    f.handlers.register('playbook', 'weekly', {
      input: z.object({}),
      async run(_input, ctx) {
        times.push(ctx.now());
        await ctx.sleep(250);
        times.push(ctx.now());
        ctx.progress({ week: 1 });
        try {
          await ctx.sleep(250);
        } catch (error) {
          waitError = error as Error;
          throw error;
        }
        return { done: true };
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'playbook', playbook_code: 'weekly' }));
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started']);
    // Nothing moves until the clock does: no real time passes in a handler's wait.
    f.clock.increment(249);
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started']);
    f.clock.increment(1);
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'progress']);
    expect(times).toEqual([1_767_225_600_000, 1_767_225_600_250]);
    await f.executor.cancel('r1', 'user pressed stop');
    await settle();
    expect(waitError).toMatchObject({ name: 'AbortError', cause: { kind: 'cancelled', reason: 'user pressed stop' } });
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'progress', 'cancelled']);
  });

  it('ctx.sleep after a cancel rejects at once', async () => {
    const f = executorFixture();
    const gate = deferred();
    let waitError: Error | undefined;
    f.handlers.register('tool', 'late', {
      input: z.object({}),
      async run(_input, ctx) {
        await gate.promise;
        await ctx.sleep(10).catch((error: Error) => (waitError = error));
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'late' }));
    await f.executor.cancel('r1', 'stop');
    gate.resolve();
    await settle();
    expect(waitError?.name).toBe('AbortError');
  });

  it('cancels: a running handler sees its signal aborted, a queued request never starts', async () => {
    const f = executorFixture({ limits: { maxConcurrency: 1 } });
    const seen: unknown[] = [];
    f.handlers.register('tool', 'wait', {
      input: z.object({}),
      run: (_input, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            seen.push(ctx.signal.reason);
            reject(new Error('aborted'));
          });
        }),
    });
    await f.executor.receive(request({ request_id: 'running', job_type: 'tool', tool_name: 'wait' }));
    await f.executor.receive(request({ request_id: 'queued', job_type: 'tool', tool_name: 'wait' }));
    await f.executor.cancel('queued', 'not needed');
    expect(f.typesOf('queued')).toEqual(['accepted', 'cancelled']);
    await f.executor.cancel('running', 'user pressed stop');
    await settle();
    expect(seen).toEqual([{ kind: 'cancelled', reason: 'user pressed stop' }]);
    // The handler's rejection after the abort does not add a second terminal event.
    expect(f.typesOf('running')).toEqual(['accepted', 'started', 'cancelled']);
    expect(f.terminalOf('running')!.data).toMatchObject({ reason: 'user pressed stop' });
    expect(f.usageOf('running')).toHaveLength(1);
    expect(f.usageOf('queued')).toHaveLength(1);
  });

  it('times out at the request timeout (default 300 s) on the injected clock and discards a late result', async () => {
    const f = executorFixture();
    const release = deferred<unknown>();
    let reason: unknown;
    f.handlers.register('tool', 'slow', {
      input: z.object({}),
      run: (_input, ctx) => {
        ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
        return release.promise;
      },
    });
    await f.executor.receive(request({ request_id: 'short', job_type: 'tool', tool_name: 'slow', timeout_ms: 2_000 }));
    await f.executor.receive(request({ request_id: 'default', job_type: 'tool', tool_name: 'slow' }));
    await settle();
    f.clock.increment(1_999);
    expect(f.terminalOf('short')).toBeUndefined();
    f.clock.increment(1);
    await settle();
    expect(f.terminalOf('short')).toMatchObject({ event_type: 'timed_out', data: { timeout_ms: 2_000, duration_ms: 2_000 } });
    expect(reason).toEqual({ kind: 'timed_out', timeoutMs: 2_000 });
    f.clock.increment(298_000);
    await settle();
    expect(f.terminalOf('default')).toMatchObject({ event_type: 'timed_out', data: { timeout_ms: 300_000 } });
    release.resolve({ late: true });
    await settle();
    expect(f.typesOf('short')).toEqual(['accepted', 'started', 'timed_out']);
  });

  it('times out each run at its own deadline, whatever ran and ended before it, and whichever started first', async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'quick', { input: z.object({}), run: () => 'done' });
    f.handlers.register('tool', 'hang', { input: z.object({}), run: () => new Promise(() => {}) });
    // Ends at once: its deadline (t=1,000) passes with nothing due.
    await f.executor.receive(request({ request_id: 'quick', job_type: 'tool', tool_name: 'quick', timeout_ms: 1_000 }));
    await settle();
    expect(f.terminalOf('quick')).toMatchObject({ event_type: 'completed' });
    f.clock.increment(500);
    await f.executor.receive(request({ request_id: 'long', job_type: 'tool', tool_name: 'hang', timeout_ms: 1_000 }));
    f.clock.increment(100);
    // Started later, due earlier (t=800, before long's t=1,500).
    await f.executor.receive(request({ request_id: 'short', job_type: 'tool', tool_name: 'hang', timeout_ms: 200 }));
    await settle();
    f.clock.increment(199);
    await settle();
    expect(f.terminalOf('short')).toBeUndefined();
    f.clock.increment(1);
    await settle();
    expect(f.terminalOf('short')).toMatchObject({ event_type: 'timed_out', data: { timeout_ms: 200, duration_ms: 200 } });
    f.clock.increment(699);
    await settle();
    expect(f.terminalOf('long')).toBeUndefined();
    f.clock.increment(1);
    await settle();
    expect(f.terminalOf('long')).toMatchObject({ event_type: 'timed_out', data: { timeout_ms: 1_000, duration_ms: 1_000 } });
  });

  it('keeps timeouts on the monotonic clock: a wall clock stepped an hour ahead times out nothing early', async () => {
    let stepped = 0;
    const f = executorFixture({
      clockOver: (sim) => ({
        now: () => sim.now() + stepped,
        monotonic: () => sim.now(),
        setTimeout: (fn, ms) => sim.setTimeout(fn, ms),
        clearTimeout: (id) => sim.clearTimeout(id as number),
      }),
    });
    f.handlers.register('tool', 'hang', { input: z.object({}), run: () => new Promise(() => {}) });
    await f.executor.receive(request({ request_id: 'short', job_type: 'tool', tool_name: 'hang', timeout_ms: 1_000 }));
    await f.executor.receive(request({ request_id: 'long', job_type: 'tool', tool_name: 'hang', timeout_ms: 300_000 }));
    await settle();
    stepped = 3_600_000; // NTP steps the wall clock while both run
    f.clock.increment(1_000);
    await settle();
    expect(f.terminalOf('short')).toMatchObject({ event_type: 'timed_out' });
    expect(f.terminalOf('long')).toBeUndefined();
    f.clock.increment(298_999);
    await settle();
    expect(f.terminalOf('long')).toBeUndefined();
    f.clock.increment(1);
    await settle();
    expect(f.terminalOf('long')).toMatchObject({ event_type: 'timed_out', data: { timeout_ms: 300_000 } });
  });

  it('gives a handler that looks at its signal only after a cancel an aborted signal with the reason, once', async () => {
    const f = executorFixture();
    const looked = deferred();
    const seen: Array<{ aborted: boolean; reason: unknown; same: boolean }> = [];
    f.handlers.register('tool', 'late', {
      input: z.object({}),
      async run(_input, ctx) {
        await looked.promise;
        seen.push({ aborted: ctx.signal.aborted, reason: ctx.signal.reason, same: ctx.signal === ctx.signal });
        ctx.logger.info('still here');
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'late' }));
    await settle();
    await f.executor.cancel('r1', 'changed my mind');
    looked.resolve();
    await settle();
    expect(seen).toEqual([{ aborted: true, reason: { kind: 'cancelled', reason: 'changed my mind' }, same: true }]);
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'cancelled']);
  });

  it('runs at most maxConcurrency at once, queues up to maxQueue, then refuses as saturated and says so', async () => {
    const f = executorFixture({ limits: { maxConcurrency: 2, maxQueue: 1 } });
    const gates = new Map<string, ReturnType<typeof deferred<void>>>();
    let running = 0;
    let peak = 0;
    f.handlers.register('tool', 'gate', {
      input: z.object({}),
      run: async (_input, ctx) => {
        running += 1;
        peak = Math.max(peak, running);
        const gate = deferred<void>();
        gates.set(ctx.requestId, gate);
        await gate.promise;
        running -= 1;
      },
    });
    for (const id of ['a', 'b', 'c', 'd']) await f.executor.receive(request({ request_id: id, job_type: 'tool', tool_name: 'gate' }));
    await settle();
    expect(f.executor.capacity).toEqual({
      running: 2,
      queued: 1,
      max_concurrency: 2,
      max_queue: 1,
      saturated: true,
      active: ['a', 'b', 'c'],
    });
    expect(f.capacities.at(-1)).toMatchObject({ saturated: true });
    expect(f.terminalOf('d')!.data).toMatchObject({ error: { code: 'saturated', details: { retryable: true } } });
    expect(f.typesOf('c')).toEqual(['accepted']);
    gates.get('a')!.resolve();
    await settle();
    expect(f.typesOf('c')).toEqual(['accepted', 'started']);
    expect(f.capacities.at(-1)).toMatchObject({ saturated: false });
    for (const id of ['b', 'c']) gates.get(id)!.resolve();
    await settle();
    expect(peak).toBe(2);
    expect(['a', 'b', 'c'].map((id) => f.terminalOf(id)?.event_type)).toEqual(['completed', 'completed', 'completed']);
  });

  it('never runs a request twice: a redelivery gets the stored terminal event and usage report, with the same ids', async () => {
    const f = executorFixture();
    let runs = 0;
    f.handlers.register('tool', 'echo', { ...echo, run: (input) => (runs++, input) });
    const first = request({ request_id: 'r1', job_type: 'tool', tool_name: 'echo', inputs: { text: 'x' } });
    await f.executor.receive(first);
    await settle();
    const stored = f.terminalOf('r1')!;
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'echo', inputs: { text: 'x' } }));
    await settle();
    expect(runs).toBe(1);
    const terminals = f.eventsOf('r1').filter((e) => e.event_type === 'completed');
    expect(terminals).toHaveLength(2);
    expect(terminals[1]).toEqual(stored); // same envelope id and event id: the hub drops the copy
    expect(new Set(f.usageOf('r1').map((u) => u.id)).size).toBe(1);
  });

  it('runs a chain in order, each step seeing the outputs before it, with an event per step', async () => {
    const f = executorFixture();
    const seen: unknown[] = [];
    f.handlers.register('tool', 'search', {
      input: z.object({ query: z.string() }),
      run: ({ query }, ctx) => {
        ctx.reportUsage({ inputTokens: 10 });
        return { hits: [`${query}-1`, `${query}-2`] };
      },
    });
    f.handlers.register('playbook', 'summarize', {
      input: z.object({ style: z.string() }),
      run: ({ style }, ctx) => {
        seen.push(ctx.chain);
        ctx.reportUsage({ inputTokens: 5, outputTokens: 7 });
        return { summary: `${style}: ${(ctx.chain!.previous as { hits: string[] }).hits.join(', ')}` };
      },
    });
    await f.executor.receive(
      request({
        request_id: 'c1',
        job_type: 'chain',
        steps: [
          { job_type: 'tool', tool_name: 'search', inputs: { query: 'q' } },
          { job_type: 'playbook', playbook_code: 'summarize', inputs: { style: 'short' } },
        ],
      }),
    );
    await settle();
    expect(seen).toEqual([{ step: 1, previous: { hits: ['q-1', 'q-2'] }, outputs: [{ hits: ['q-1', 'q-2'] }] }]);
    const steps = f
      .eventsOf('c1')
      .filter((e) => e.event_type === 'progress')
      .map((e) => [e.data!.step_event, e.data!.step, e.data!.name]);
    expect(steps).toEqual([
      ['started', 0, 'search'],
      ['completed', 0, 'search'],
      ['started', 1, 'summarize'],
      ['completed', 1, 'summarize'],
    ]);
    expect(f.terminalOf('c1')!.data!.result).toEqual({
      output: { summary: 'short: q-1, q-2' },
      steps: [{ hits: ['q-1', 'q-2'] }, { summary: 'short: q-1, q-2' }],
    });
    expect(f.usageOf('c1')[0]!.metrics.token_usage).toEqual({ input: 15, output: 7 });
  });

  it('fails a chain at the failing step, naming it, and runs no step after it', async () => {
    const f = executorFixture();
    let after = 0;
    f.handlers.register('tool', 'ok', { input: z.object({}), run: () => 'fine' });
    f.handlers.register('tool', 'broken', {
      input: z.object({}),
      run: () => {
        throw new ExecutionError('upstream_down', 'the API answered 503');
      },
    });
    f.handlers.register('tool', 'never', { input: z.object({}), run: () => after++ });
    const steps = [
      { job_type: 'tool' as const, tool_name: 'ok' },
      { job_type: 'tool' as const, tool_name: 'broken' },
      { job_type: 'tool' as const, tool_name: 'never' },
    ];
    await f.executor.receive(request({ request_id: 'c1', job_type: 'chain', steps }));
    await f.executor.receive(
      request({
        request_id: 'c2',
        job_type: 'chain',
        steps: [
          { job_type: 'tool', tool_name: 'ok' },
          { job_type: 'tool', tool_name: 'missing' },
        ],
      }),
    );
    await settle();
    expect(f.terminalOf('c1')).toMatchObject({
      event_type: 'failed',
      data: {
        error: {
          code: 'step_failed',
          message: "step 1 (tool 'broken') failed: the API answered 503",
          details: { step: 1, job_type: 'tool', name: 'broken', error: { code: 'upstream_down' } },
        },
      },
    });
    expect(after).toBe(0);
    // A step without a handler is found before anything runs.
    expect(f.typesOf('c2')).toEqual(['failed']);
    expect(f.terminalOf('c2')!.data).toMatchObject({ error: { code: 'unknown_job_type', details: { step: 1, name: 'missing' } } });
  });

  it('after a crash, fails each journaled execution `interrupted` once and does not run it when it is delivered again', async () => {
    const first = executorFixture();
    first.handlers.register('tool', 'hang', { input: z.object({}), run: () => new Promise(() => {}) });
    await first.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'hang' }));
    await settle();
    expect(first.journal.pending()).toHaveLength(1);

    // A new process over the same logs.
    const again = executorFixture({ log: first.log, journal: first.journal });
    let runs = 0;
    again.handlers.register('tool', 'hang', { input: z.object({}), run: () => runs++ });
    await again.executor.recover();
    expect(again.typesOf('r1')).toEqual(['accepted', 'started', 'failed']);
    expect(again.terminalOf('r1')!.data).toMatchObject({ error: { code: 'interrupted' } });
    expect(again.usageOf('r1')).toEqual([expect.objectContaining({ report_id: 'usage:r1' })]);
    expect(again.journal.pending()).toEqual([]);
    await again.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'hang' }));
    await settle();
    expect(runs).toBe(0);
  });

  it('refuses new work while the outbox is full, and keeps lifecycle events and usage of accepted work past the bound', async () => {
    const f = executorFixture({ outbox: { maxEntries: 4 } });
    const gate = deferred();
    f.handlers.register('tool', 'chatty', {
      input: z.object({}),
      run: async (_input, ctx) => {
        for (let i = 0; i < 5; i++) ctx.progress({ i });
        await gate.promise;
        return 'done';
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'chatty' }));
    await settle();
    expect(f.losses.filter((l) => l.kind === 'progress_dropped').length).toBeGreaterThan(0);
    await f.executor.receive(request({ request_id: 'r2', job_type: 'tool', tool_name: 'chatty' }));
    expect(f.terminalOf('r2')!.data).toMatchObject({ error: { code: 'saturated' } });
    gate.resolve();
    await settle();
    expect(f.terminalOf('r1')).toMatchObject({ event_type: 'completed', data: { result: 'done' } });
    expect(f.usageOf('r1')).toHaveLength(1);
  });
});

describe('executor under storage and size failures', () => {
  it('ends a request whose result is too large to send as failed `result_too_large`, once', async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'big', { input: z.object({}), run: () => ({ blob: 'x'.repeat(1_100_000) }) });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'big' }));
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'failed']);
    expect(f.terminalOf('r1')!.data).toMatchObject({ error: { code: 'result_too_large' } });
    expect(f.usageOf('r1')).toHaveLength(1);
    expect(f.journal.pending()).toEqual([]);
  });

  it('does not take a request whose journal append failed for a duplicate when it comes again', async () => {
    let fail = true;
    const memory = createMemoryRecordLog<JournalEntry>();
    const journal: RecordLog<JournalEntry> = {
      ...memory,
      pending: () => memory.pending(),
      get lastSeq() {
        return memory.lastSeq;
      },
      append: (value) => (fail ? Promise.reject(new Error('ENOSPC')) : memory.append(value)),
    };
    const f = executorFixture({ journal });
    let runs = 0;
    f.handlers.register('tool', 'echo', { input: z.object({}), run: () => ++runs });
    const delivery = request({ request_id: 'r1', job_type: 'tool', tool_name: 'echo' });
    await expect(f.executor.receive(delivery)).rejects.toThrow('ENOSPC');
    fail = false;
    await f.executor.receive(delivery); // the hub's resend on the next session
    await settle();
    expect(runs).toBe(1);
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'completed']);
  });

  it('answers a redelivery with the stored outcome for the last retainOutcomes executions, and runs an older one again', async () => {
    const f = executorFixture({ limits: { retainOutcomes: 3 } });
    let runs = 0;
    f.handlers.register('tool', 'echo', { input: z.object({}), run: () => ++runs });
    const delivery = (n: number) => request({ request_id: `r${n}`, job_type: 'tool', tool_name: 'echo' });
    for (let n = 1; n <= 5; n++) {
      await f.executor.receive(delivery(n));
      await settle();
    }
    expect(runs).toBe(5);
    // r5 is remembered: its stored end goes out again under the same ids, and nothing runs.
    const [terminal] = f.eventsOf('r5').filter((e) => e.event_type === 'completed');
    await f.executor.receive(delivery(5));
    await settle();
    expect(runs).toBe(5);
    expect(
      f
        .eventsOf('r5')
        .filter((e) => e.event_type === 'completed')
        .map((e) => e.id),
    ).toEqual([terminal!.id, terminal!.id]);
    // r1 and r2 were forgotten, oldest first: r1 runs again; r4, still among the last three, does not.
    await f.executor.receive(delivery(1));
    await settle();
    expect(runs).toBe(6);
    await f.executor.receive(delivery(4));
    await settle();
    expect(runs).toBe(6);
  });

  it('answers a redelivery with its outcome unchanged after hundreds of larger outcomes were stored and forgotten since', async () => {
    const f = executorFixture({ limits: { retainOutcomes: 50 } });
    f.handlers.register('tool', 'echo', { ...echo, run: (input) => input });
    const delivery = (n: number) =>
      request({
        request_id: `r${n}`,
        job_type: 'tool',
        tool_name: 'echo',
        inputs: { text: `${n}:${'é'.repeat(n % 7 === 0 ? 3_000 : 10)}` },
      });
    for (let n = 1; n <= 400; n++) {
      await f.executor.receive(delivery(n));
      await settle();
      // The hub's acks: the outbox lets go of the frames; only the executor keeps the outcomes.
      await f.outbox.ack(f.log.lastSeq);
    }
    for (const n of [351, 371, 400]) {
      const terminal = f.terminalOf(`r${n}`);
      expect(terminal).toBeUndefined(); // acknowledged and gone from the outbox
      await f.executor.receive(delivery(n));
      await settle();
      expect(f.terminalOf(`r${n}`)).toMatchObject({
        event_id: `r${n}:end`,
        event_type: 'completed',
        data: { result: { text: `${n}:${'é'.repeat(n % 7 === 0 ? 3_000 : 10)}` } },
      });
      expect(f.usageOf(`r${n}`)).toHaveLength(1);
    }
    // The same ids as the first time: the hub drops the copies.
    const again = f.messages().map((m) => m.id);
    await f.outbox.ack(f.log.lastSeq);
    for (const n of [351, 371, 400]) await f.executor.receive(delivery(n));
    await settle();
    expect(f.messages().map((m) => m.id)).toEqual(again);
    // r1 is long forgotten: it runs again.
    await f.executor.receive(delivery(1));
    await settle();
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'completed']);
  });

  it('on stop, leaves a handler that honours its signal to the journal (reported `interrupted` on the next start)', async () => {
    const f = executorFixture();
    f.handlers.register('tool', 'wait', {
      input: z.object({}),
      run: (_input, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'wait' }));
    f.executor.stop();
    await settle();
    expect(f.terminalOf('r1')).toBeUndefined();
    expect(f.journal.pending()).toHaveLength(1);
  });

  it('runs a request whose id is as long as the protocol allows: every event and the usage report are stored, the journal settled', async () => {
    const f = executorFixture();
    const id = 'r'.repeat(256);
    f.handlers.register('tool', 'chatty', {
      input: z.object({}),
      run: (_input, ctx) => {
        ctx.progress({ step: 1 });
        return 'done';
      },
    });
    await f.executor.receive(request({ request_id: id, job_type: 'tool', tool_name: 'chatty' }));
    await settle();
    expect(f.typesOf(id)).toEqual(['accepted', 'started', 'progress', 'completed']);
    expect(f.eventsOf(id).every((e) => e.event_id.length <= 256)).toBe(true);
    expect(new Set(f.eventsOf(id).map((e) => e.event_id)).size).toBe(4);
    expect(f.usageOf(id)).toHaveLength(1);
    expect(f.journal.pending()).toEqual([]);
  });

  it('refuses usage a usage report cannot carry where the handler reports it, with a TypeError naming the field', async () => {
    const f = executorFixture();
    const refusals: string[] = [];
    f.handlers.register('tool', 'metered', {
      input: z.object({}),
      run: (_input, ctx) => {
        ctx.reportUsage({ inputTokens: 3, costEstimate: 0.5 });
        for (const bad of [{ inputTokens: 1.5 }, { outputTokens: -1 }, { costEstimate: Number.NaN }, { inputTokens: '4' as never }]) {
          try {
            ctx.reportUsage(bad);
          } catch (error) {
            refusals.push(error instanceof TypeError ? error.message : 'not a TypeError');
          }
        }
        return 'ok';
      },
    });
    await f.executor.receive(request({ request_id: 'r1', job_type: 'tool', tool_name: 'metered' }));
    await settle();
    expect(refusals).toEqual([
      'reportUsage: inputTokens must be a non-negative integer, got 1.5',
      'reportUsage: outputTokens must be a non-negative integer, got -1',
      'reportUsage: costEstimate must be a non-negative number, got NaN',
      'reportUsage: inputTokens must be a non-negative integer, got string',
    ]);
    // What was refused was not added; the valid report stands.
    expect(f.usageOf('r1')).toEqual([
      expect.objectContaining({ metrics: { duration_ms: 0, token_usage: { input: 3, output: 0 }, cost_estimate: 0.5 } }),
    ]);
    expect(f.typesOf('r1')).toEqual(['accepted', 'started', 'completed']);
  });
});
