import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ExecutionEventRecord, type ExecutionSnapshot, ExecutionStore, TERMINAL } from '../../../src/hub/delivery/executions.ts';
import type { MessageOf } from '../../../src/protocol/index.ts';

const where = { device_id: 'd1', tenant_id: 't1' };

/** The end of this turn: the store moves finished records off the heap then, after the turn's writes (src/adapters/write-batch.ts). */
const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

function event(eventType: MessageOf<'execution_event'>['event_type'], n = 0): MessageOf<'execution_event'> {
  return {
    v: 1,
    id: `m-${eventType}-${n}`,
    ts: 0,
    type: 'execution_event',
    event_id: `r1:${eventType}:${n}`,
    request_id: 'r1',
    event_type: eventType,
    data: { n },
    seq: n + 1,
  };
}

function watch(store: ExecutionStore, tracked: ReturnType<ExecutionStore['create']>) {
  const seen: string[] = [];
  let completed = false;
  const subscription = store.events(tracked).subscribe({ next: (e) => seen.push(e.event_type), complete: () => void (completed = true) });
  return { seen, completed: () => completed, subscription };
}

describe('ExecutionStore events', () => {
  it('replays what came before to a late subscriber, follows live, and completes after the terminal event', () => {
    const store = new ExecutionStore(10);
    const tracked = store.create({ request_id: 'r1', job_type: 'tool' }, where, 0);
    const early = watch(store, tracked);
    store.record(event('accepted'), where, 1);
    store.record(event('started'), where, 2);
    const late = watch(store, tracked);
    const leaving = watch(store, tracked);
    leaving.subscription.unsubscribe();
    // A duplicate is not an event.
    store.record(event('started'), where, 3);
    store.record(event('completed'), where, 4);
    const after = watch(store, tracked);
    for (const w of [early, late, after]) {
      expect(w.seen).toEqual(['accepted', 'started', 'completed']);
      expect(w.completed()).toBe(true);
    }
    expect(leaving.seen).toEqual(['accepted', 'started']);
    expect(leaving.completed()).toBe(false);
    expect(store.duplicates).toBe(1);
  });

  it('completes the events of a request that ended without reaching the device', () => {
    const store = new ExecutionStore(10);
    const tracked = store.create({ request_id: 'r1', job_type: 'tool' }, where, 0);
    const w = watch(store, tracked);
    store.end('r1', 'undelivered', { reason: 'resume window passed' }, 5);
    expect(w.seen).toEqual([]);
    expect(w.completed()).toBe(true);
  });

  it('drops every duplicate, however many events came before it, and anything after the end', async () => {
    const store = new ExecutionStore(10);
    const tracked = store.create({ request_id: 'r1', job_type: 'tool' }, where, 0);
    const { result } = tracked;
    store.record(event('accepted'), where, 1);
    // Past the few a scan covers, and each resent at once and again later.
    for (let n = 1; n <= 20; n++) {
      expect(store.record(event('progress', n), where, 1 + n)).toBe(true);
      expect(store.record(event('progress', n), where, 1 + n)).toBe(false);
    }
    for (let n = 1; n <= 20; n++) expect(store.record(event('progress', n), where, 30)).toBe(false);
    expect(store.record(event('accepted'), where, 31)).toBe(false);
    expect(store.record(event('completed'), where, 32)).toBe(true);
    expect(store.record(event('progress', 21), where, 33)).toBe(false);
    expect(store.duplicates).toBe(20 + 20 + 1 + 1);
    expect(store.snapshot('r1')?.events.map((e) => e.event_id)).toEqual([
      'r1:accepted:0',
      ...Array.from({ length: 20 }, (_, i) => `r1:progress:${i + 1}`),
      'r1:completed:0',
    ]);
    expect(await result).toEqual({ request_id: 'r1', status: 'completed', data: { n: 0 } });
    // Settled: the record kept for `retain` executions no longer holds the promise; its awaiter does.
    expect(tracked.result).toBeUndefined();
  });
});

describe('ExecutionStore records', () => {
  type EventType = MessageOf<'execution_event'>['event_type'];
  const STATUS: Record<EventType, ExecutionSnapshot['status']> = {
    accepted: 'accepted',
    started: 'running',
    progress: 'running',
    completed: 'completed',
    failed: 'failed',
    cancelled: 'cancelled',
    timed_out: 'timed_out',
  };
  // Ids of the form events are given (`<request id>:<suffix>`), ids of other forms, and ids a
  // suffix could be mistaken for: each must come back as it was sent.
  const eventId = fc.oneof(
    fc.constantFrom(':accepted', ':started', ':end', ':progress:1', '0:accepted', ':', ''),
    fc.integer({ min: 1, max: 400 }).map((n) => `:progress:${n}`),
  );
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('event' as const),
      request: fc.constantFrom('r1', 'r10'),
      // Prefixed with the request's id, or not (a whole id of another form).
      prefixed: fc.boolean(),
      id: eventId,
      type: fc.constantFrom<EventType>('accepted', 'started', 'progress', 'progress', 'completed', 'failed'),
      // Another node's event, copied here: recorded, not mirrored.
      copy: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('end' as const), request: fc.constantFrom('r1', 'r10') }),
  );

  it('keeps events as sent, however their ids are kept: snapshots, replays and the mirror agree with the plain record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const store = new ExecutionStore(100);
        const mirrored: Array<{ snapshot: ExecutionSnapshot; event: ExecutionEventRecord | undefined }> = [];
        store.mirror = (snapshot, event) => mirrored.push({ snapshot: structuredClone(snapshot), event });
        const model = new Map<string, ExecutionSnapshot>();
        const expectedMirror: typeof mirrored = [];
        const tracked = new Map<string, ReturnType<ExecutionStore['create']>>();
        for (const request of ['r1', 'r10']) {
          tracked.set(request, store.create({ request_id: request, job_type: 'tool' }, where, 0));
          model.set(request, {
            request_id: request,
            ...where,
            job_type: 'tool',
            status: 'queued',
            created_at: 0,
            updated_at: 0,
            events: [],
          });
        }
        let now = 0;
        for (const step of ops) {
          now += 1;
          const kept = model.get(step.request)!;
          if (step.kind === 'end') {
            store.end(step.request, 'cancelled', { at: now }, now);
            if (TERMINAL.has(kept.status)) continue;
            Object.assign(kept, { status: 'cancelled', updated_at: now, outcome: { at: now } });
            expectedMirror.push({ snapshot: structuredClone(kept), event: undefined });
            continue;
          }
          const id = step.prefixed ? `${step.request}${step.id}` : step.id || 'x';
          const message = { v: 1, id: `m${now}`, ts: 0, type: 'execution_event', event_id: id, request_id: step.request } as const;
          const recorded = store.record({ ...message, event_type: step.type, data: { now }, seq: now }, where, now, step.copy);
          const fresh = !TERMINAL.has(kept.status) && !kept.events.some((e) => e.event_id === id);
          expect(recorded).toBe(fresh);
          if (!fresh) continue;
          const record = { event_id: id, event_type: step.type, data: { now }, received_at: now };
          kept.events.push(record);
          kept.updated_at = now;
          if (!(step.type === 'accepted' && kept.status === 'running')) kept.status = STATUS[step.type];
          if (TERMINAL.has(kept.status)) kept.outcome = { now };
          if (!step.copy) expectedMirror.push({ snapshot: structuredClone(kept), event: record });
        }
        for (const [request, kept] of model) {
          expect(store.snapshot(request)).toEqual(kept);
          const replayed: ExecutionEventRecord[] = [];
          store
            .events(tracked.get(request)!)
            .subscribe((e) => replayed.push(e))
            .unsubscribe();
          expect(replayed).toEqual(kept.events);
        }
        expect(mirrored).toEqual(expectedMirror);
        // Enough executions end after them that finished ones are kept off the heap: read back the same.
        for (let n = 0; n < 40; n++) {
          store.create({ request_id: `filler-${n}`, job_type: 'tool' }, where, now);
          store.end(`filler-${n}`, 'cancelled', { n }, now);
        }
        await endOfTurn();
        for (const [request, kept] of model) {
          expect(store.snapshot(request)).toStrictEqual(kept);
          expect(store.has(request)).toBe(true);
          expect(store.ownerOf(request)).toMatchObject({ request_id: request, ...where });
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('ExecutionStore event ids', () => {
  it('gives back every id as sent when a device fills its events with suffixes of its own making', () => {
    const store = new ExecutionStore(1_000);
    for (let r = 0; r < 300; r++) {
      const requestId = `junk-${r}`;
      store.create({ request_id: requestId, job_type: 'tool' }, where, 0);
      store.record({ ...event('progress', r), request_id: requestId, event_id: `${requestId}:x${r}` }, where, 1);
    }
    const ids = ['r1:accepted', 'r1:started', 'r1:progress:7', 'r1:progress:0', 'r1:end'];
    store.create({ request_id: 'r1', job_type: 'tool' }, where, 0);
    ids.forEach((id, n) => store.record({ ...event(n === 4 ? 'completed' : 'progress', n), event_id: id }, where, 2 + n));
    expect(store.snapshot('r1')!.events.map((e) => e.event_id)).toEqual(ids);
    expect(store.snapshot('junk-299')!.events.map((e) => e.event_id)).toEqual(['junk-299:x299']);
  });
});

describe('ExecutionStore finished records', () => {
  /** Ends `count` executions of another request id each, so the records before them are kept off the heap. */
  function endMore(store: ExecutionStore, count: number, from = 0): void {
    for (let n = from; n < from + count; n++) {
      store.create({ request_id: `later-${n}`, job_type: 'tool' }, where, n);
      store.end(`later-${n}`, 'cancelled', { n }, n);
    }
  }

  it('reads a finished record back exactly as before it went off the heap, whatever its data', async () => {
    const store = new ExecutionStore(1_000);
    const odd = { minusZero: -0, missing: undefined, at: new Date(5), nested: { list: [1, 'two', null] } };
    // What JSON would change but a clone keeps, without a Date: kept off the heap as it is (src/util/byte-form.ts).
    const cloneOnly = { minusZero: -0, nan: Number.NaN, missing: undefined, lone: '\ud800' };
    const datas: Array<Record<string, unknown>> = [{ queue_position: 1 }, {}, { result: { text: 'hi' }, duration_ms: 0 }, cloneOnly, odd];
    datas.forEach((data, r) => {
      const requestId = `r${r}`;
      store.create({ request_id: requestId, job_type: 'tool' }, where, 10);
      store.record(
        { ...event('accepted'), request_id: requestId, event_id: `${requestId}:accepted`, data: { queue_position: 1 } },
        where,
        11,
      );
      // The last one's progress and end share their data object: a clone keeps them one object.
      const progress = r === datas.length - 1 ? data : { step: r };
      store.record({ ...event('progress', 1), request_id: requestId, event_id: `custom-${r}`, data: progress }, where, 12);
      store.record({ ...event('completed'), request_id: requestId, event_id: `${requestId}:end`, data }, where, 13);
    });
    store.create({ request_id: 'undelivered', job_type: 'chain' }, where, 20);
    store.end('undelivered', 'undelivered', { reason: 'resume window passed' }, 21);
    const ids = [...datas.map((_, r) => `r${r}`), 'undelivered'];
    const before = ids.map((id) => store.snapshot(id)!);
    endMore(store, 100);
    await endOfTurn();
    const after = ids.map((id) => store.snapshot(id)!);
    expect(after).toStrictEqual(before);
    for (const r of [3, 4]) {
      expect(Object.is(after[r]!.outcome!.minusZero, -0)).toBe(true);
      expect('missing' in after[r]!.outcome!).toBe(true);
    }
    expect(after[4]!.events[1]!.data).toBe(after[4]!.events[2]!.data);
    for (const snapshot of after) {
      // The outcome is the terminal event's data itself, as a structured clone of the record gives it.
      if (snapshot.events.length > 0) expect(snapshot.outcome).toBe(snapshot.events.at(-1)!.data);
    }
    // Copies: changing one changes nothing kept.
    after[0]!.events[0]!.data.queue_position = 99;
    expect(store.snapshot('r0')!.events[0]!.data).toEqual({ queue_position: 1 });
  });

  it("answers for a record off the heap: its owner, its device's late events as duplicates, another device's refused", async () => {
    const store = new ExecutionStore(1_000);
    store.create({ request_id: 'r1', job_type: 'tool' }, where, 0);
    store.record(event('completed'), where, 1);
    endMore(store, 100);
    await endOfTurn();
    expect(store.has('r1')).toBe(true);
    expect(store.ownerOf('r1')).toEqual({ request_id: 'r1', ...where });
    expect(store.record(event('progress', 3), { device_id: 'd2', tenant_id: 't1' }, 2)).toBe(false);
    expect(store.duplicates).toBe(0);
    expect(store.record(event('progress', 3), where, 2)).toBe(false);
    expect(store.duplicates).toBe(1);
    store.mark('r1', 'queued', 3);
    store.end('r1', 'cancelled', {}, 3);
    expect(store.snapshot('r1')!.status).toBe('completed');
  });

  it('forgets the records that ended first past `retain`, on the heap or off it, and keeps running ones', async () => {
    const store = new ExecutionStore(50);
    store.create({ request_id: 'running', job_type: 'tool' }, where, 0);
    const expectRetained = (from: number, to: number) => {
      const kept = Array.from({ length: to }, (_, n) => store.has(`later-${n}`));
      // 49 ended ones and the running one.
      expect(kept.indexOf(true)).toBe(from);
      expect(kept.slice(from).every(Boolean)).toBe(true);
      expect(store.has('running')).toBe(true);
      expect(store.snapshot(`later-${from}`)!.outcome).toEqual({ n: from });
      expect(store.snapshot(`later-${from - 1}`)).toBeUndefined();
    };
    endMore(store, 200);
    // Within the turn, before the newest are moved off the heap: `retain` holds already.
    expectRetained(151, 200);
    await endOfTurn();
    expectRetained(151, 200);
    // And across both: those off the heap are forgotten first.
    endMore(store, 30, 200);
    expectRetained(181, 230);
    await endOfTurn();
    expectRetained(181, 230);
  });
});
