import { BehaviorSubject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { ConnectorStatus } from '../../src/connector/status.ts';
import type { InspectedActor, InspectionRecord } from '../../src/inspection-events/stream.ts';
import { InspectorFeed, RECENT_TRANSITIONS } from '../../src/inspector-page/feed.ts';
import type { ServerMessage } from '../../src/inspector-page/messages.ts';
import { connectionMachine } from '../../src/machines/connection.ts';
import { supervisorMachine } from '../../src/machines/supervisor.ts';

const CONNECTED: ConnectorStatus = {
  supervisor: { state: 'running', reason: 'started' },
  connection: { state: 'connected', reason: 'handshake_complete', attempt: 0, sessionId: 's-1' },
  auth: { state: 'static', reason: 'static_token' },
  heartbeat: { state: 'waiting', reason: 'link_up' },
  settings: { state: 'stopped', reason: 'stopped' },
  storage: { state: 'ok', reason: 'started' },
};

/** A connector as the feed sees it, whose records and status the test emits. */
function fakeConnector() {
  const actors: InspectedActor[] = [
    { id: 'supervisor', name: 'x:0', machine: 'supervisor', status: 'active', states: ['running'] },
    {
      id: 'supervisor/connection',
      name: 'connection',
      parent: 'supervisor',
      machine: 'connection',
      status: 'active',
      states: ['online', 'online.connected'],
    },
  ];
  const listeners = new Set<(record: InspectionRecord) => void>();
  const state$ = new BehaviorSubject(CONNECTED);
  const machines = { supervisor: supervisorMachine, connection: connectionMachine } as Record<
    string,
    typeof connectionMachine | typeof supervisorMachine
  >;
  const connector = {
    inspection: {
      actors: () => actors,
      machine: (id: string) => machines[id],
      subscribe(listener: (record: InspectionRecord) => void) {
        for (const actor of actors) listener({ type: 'actor', at: 0, actor });
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      redact: <T>(value: T) => value,
    },
    state$,
    get status() {
      return state$.value;
    },
    executions: {
      capacity: { running: 0, queued: 0, max_concurrency: 4, max_queue: 64, saturated: false },
      active: [],
      outboxDepth: 0,
      waitingForStorage: 0,
    },
  };
  const emit = (record: InspectionRecord) => listeners.forEach((listener) => listener(record));
  const transition = (i: number, to = ['online', 'online.connected']): InspectionRecord => ({
    type: 'transition',
    at: i,
    actor: 'supervisor/connection',
    from: ['retrying'],
    to,
    event: { type: 'xstate.after.retryDelay.connection.disconnected' },
    reason: 'retry',
  });
  return { connector, emit, transition, state$, listeners };
}

/** The next batch or snapshot a listener gets (statecharts arrive whenever their layout is done). */
function nextMessage(feed: InspectorFeed): Promise<ServerMessage> {
  return new Promise((resolve) => {
    const off = feed.listen(
      (message) => {
        if (message.type === 'chart') return;
        off();
        resolve(message);
      },
      () => {},
    );
  });
}

describe('inspector feed', () => {
  it(`keeps the live actors and the last ${RECENT_TRANSITIONS} transitions for a page that connects late`, () => {
    const { connector, emit, transition } = fakeConnector();
    const feed = new InspectorFeed(connector);
    for (let i = 1; i <= 120; i++) emit(transition(i, i === 120 ? ['disconnected'] : ['online', 'online.connected']));
    const snapshot = feed.snapshot();
    expect(snapshot.transitions).toHaveLength(RECENT_TRANSITIONS);
    expect(snapshot.transitions.at(-1)).toMatchObject({ at: 120, to: ['disconnected'], event: 'after retryDelay', reason: 'retry' });
    expect(snapshot.seq).toBe(snapshot.transitions.at(-1)!.seq);
    expect(snapshot.actors.map((a) => [a.id, a.states])).toEqual([
      ['supervisor', ['running']],
      ['supervisor/connection', ['disconnected']],
    ]);
    feed.close();
  });

  it('keeps at most 32 stopped actors, the most recent', () => {
    const { connector, emit } = fakeConnector();
    const feed = new InspectorFeed(connector);
    for (let i = 0; i < 100; i++) {
      emit({
        type: 'actor',
        at: i,
        actor: { id: `supervisor/token-${i}`, name: `token-${i}`, parent: 'supervisor', status: 'active', states: [] },
      });
      emit({ type: 'actor.stopped', at: i, actor: `supervisor/token-${i}`, status: 'done' });
    }
    const stopped = feed.snapshot().actors.filter((a) => a.status !== 'active');
    expect(stopped).toHaveLength(32);
    expect(stopped.at(-1)).toMatchObject({ id: 'supervisor/token-99', status: 'done' });
    feed.close();
  });

  it('sends what happened within one batch interval as one message, status included', async () => {
    const { connector, emit, transition, state$ } = fakeConnector();
    const feed = new InspectorFeed(connector);
    const next = nextMessage(feed);
    for (let i = 1; i <= 5; i++) emit(transition(i));
    state$.next({ ...CONNECTED, heartbeat: { state: 'awaiting', reason: 'interval_elapsed' } });
    const batch = await next;
    expect(batch).toMatchObject({
      type: 'batch',
      status: { heartbeat: { state: 'awaiting' } },
      executions: { maxConcurrency: 4, outboxDepth: 0, waitingForStorage: 0 },
    });
    expect(batch.type === 'batch' && batch.records.map((r) => r.kind)).toEqual([
      'transition',
      'transition',
      'transition',
      'transition',
      'transition',
    ]);
    feed.close();
  });

  it('replaces a flood of records by one fresh snapshot', async () => {
    const { connector, emit, transition } = fakeConnector();
    const feed = new InspectorFeed(connector);
    const next = nextMessage(feed);
    for (let i = 1; i <= 1_500; i++) emit(transition(i));
    const message = await next;
    expect(message.type).toBe('snapshot');
    expect(message.type === 'snapshot' && message.transitions).toHaveLength(RECENT_TRANSITIONS);
    feed.close();
  });

  it('sets the retry deadline when the retry is decided, not again when other actors change', () => {
    const { connector, state$ } = fakeConnector();
    let now = 10_000;
    const feed = new InspectorFeed(connector, { now: () => now });
    const disconnected: ConnectorStatus = {
      ...CONNECTED,
      connection: { state: 'disconnected', reason: 'connection_lost', attempt: 2, retryInMs: 1_500 },
    };
    state$.next(disconnected);
    expect(feed.snapshot().status.connection.retryAt).toBe(11_500);
    now = 10_400;
    state$.next({ ...disconnected, heartbeat: { state: 'idle', reason: 'link_down' } });
    expect(feed.snapshot().status.connection.retryAt).toBe(11_500);
    now = 12_000;
    state$.next({ ...disconnected, connection: { ...disconnected.connection, attempt: 3, retryInMs: 900 } });
    expect(feed.snapshot().status.connection.retryAt).toBe(12_900);
    state$.next(CONNECTED);
    expect(feed.snapshot().status.connection.retryAt).toBeUndefined();
    feed.close();
  });

  it('lays out the statechart of every machine in the tree once, and announces it', async () => {
    const { connector } = fakeConnector();
    const feed = new InspectorFeed(connector);
    const announced: string[] = [];
    feed.listen(
      (message) => {
        if (message.type === 'chart') announced.push(message.chart.machine);
      },
      () => {},
    );
    const charts = await feed.charts();
    expect(charts.map((c) => c.machine).sort()).toEqual(['connection', 'supervisor']);
    expect(announced.sort()).toEqual(['connection', 'supervisor']);
    expect(feed.snapshot().charts).toHaveLength(2);
    feed.close();
  });

  it('ends its listeners and stops reading when the connector stops', async () => {
    const { connector, state$, listeners } = fakeConnector();
    const feed = new InspectorFeed(connector);
    const ended = new Promise((resolve) => feed.listen(() => {}, resolve));
    state$.complete();
    expect(await ended).toBe('connector_stopped');
    expect(await feed.ended).toBe('connector_stopped');
    expect(listeners.size).toBe(0);
  });
});
