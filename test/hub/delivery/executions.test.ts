import { describe, expect, it } from 'vitest';
import { ExecutionStore } from '../../../src/hub/delivery/executions.ts';
import type { MessageOf } from '../../../src/protocol/index.ts';

const where = { device_id: 'd1', tenant_id: 't1' };

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
    expect(await tracked.result).toEqual({ request_id: 'r1', status: 'completed', data: { n: 0 } });
  });
});
