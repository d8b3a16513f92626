import type { Observable } from 'rxjs';
import type { ConnectorStatus, ExecutionsStatus } from '../status/connector-status.ts';
import type { InspectedActor, InspectionRecord, InspectionStream } from '../inspection-events/stream.ts';
import { readableEvent } from '../graph/statechart.ts';
import type { ChartLayout } from './chart-layout.ts';
import { layoutStatechart } from './layout.ts';
import {
  BATCH_MS,
  type ChartError,
  type ExecutionsView,
  type ServerMessage,
  type SnapshotMessage,
  type StatusView,
  type TransitionRow,
  type TreeRecord,
} from './messages.ts';

/** What the inspector reads of a connector. */
export interface InspectableConnector {
  readonly inspection: Pick<InspectionStream, 'actors' | 'machine' | 'subscribe' | 'redact'>;
  readonly state$: Observable<ConnectorStatus>;
  readonly status: ConnectorStatus;
  readonly executions: ExecutionsStatus;
}

export interface FeedOptions {
  /** Wall clock for retry deadlines and `now` (default `Date.now`). */
  now?: () => number;
  /** Called when a statechart cannot be laid out (the page then shows the error in its place). */
  onError?: (error: unknown, machine: string) => void;
}

/** Why a feed ended: the connector stopped, or the feed was closed. */
export type FeedEnd = 'connector_stopped' | 'closed';

/** Transitions kept for a page that connects late. */
export const RECENT_TRANSITIONS = 50;
/** Stopped actors kept (greyed out in the tree) so a crash loop stays visible. */
const STOPPED_ACTORS = 32;
/** Records held for one batch; past this the batch is replaced by a fresh snapshot. */
const MAX_PENDING = 1_000;
/** Executions have no stream: they are sampled this often while a page is open. */
const EXECUTIONS_SAMPLE_MS = 500;
const MAX_CHARTS = 32;
const ACTIVE_IDS_SHOWN = 20;
const TEXT_LIMIT = 200;
const ERROR_LIMIT = 400;

/**
 * What the inspector knows of a connector, bounded: its actors (live ones and the last stopped),
 * the last {@link RECENT_TRANSITIONS} transitions, its status with a wall-clock retry deadline,
 * its executions, and the layout of every statechart seen. Pages get {@link snapshot} once, then
 * batched messages through {@link listen}, at most every {@link BATCH_MS}.
 *
 * @example
 * const feed = new InspectorFeed(connector);
 * const off = feed.listen((message) => socket.send(JSON.stringify(message)), () => socket.close());
 * socket.send(JSON.stringify(feed.snapshot()));
 */
export class InspectorFeed {
  readonly #connector: InspectableConnector;
  readonly #now: () => number;
  readonly #onError: FeedOptions['onError'];
  readonly #actors = new Map<string, InspectedActor>();
  readonly #transitions: TransitionRow[] = [];
  readonly #charts = new Map<string, ChartLayout>();
  readonly #chartErrors = new Map<string, ChartError>();
  readonly #laying = new Map<string, Promise<void>>();
  readonly #listeners = new Set<{ message: (message: ServerMessage) => void; end: (why: FeedEnd) => void }>();
  #seq = 0;
  #status: StatusView;
  #retryKey: string | undefined;
  #retryAt = 0;
  #executions: ExecutionsView;
  #pending: TreeRecord[] = [];
  #statusChanged = false;
  #resync = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #sampleTimer: NodeJS.Timeout | undefined;
  #ended = false;
  #endedBy: FeedEnd = 'closed';
  #resolveEnded: () => void = () => {};
  /** Resolves when the connector has stopped (its `state$` completed) or {@link close} was called. */
  readonly ended = new Promise<FeedEnd>((resolve) => {
    this.#resolveEnded = () => resolve(this.#endedBy);
  });
  #unsubscribe: () => void = () => {};

  constructor(connector: InspectableConnector, options: FeedOptions = {}) {
    this.#connector = connector;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    this.#status = this.#viewOf(connector.status);
    this.#executions = executionsView(connector.executions);
    // The stream replays the live actors first, so nothing appears between a read and a subscribe.
    const off = connector.inspection.subscribe((record) => this.#onRecord(record));
    this.#unsubscribe = off;
    // A stopped connector's state$ completes at once, inside subscribe().
    const subscription = connector.state$.subscribe({
      next: (status) => {
        this.#status = this.#viewOf(status);
        this.#statusChanged = true;
        this.#schedule();
      },
      complete: () => this.#end('connector_stopped'),
    });
    if (this.#ended) subscription.unsubscribe();
    else
      this.#unsubscribe = () => {
        off();
        subscription.unsubscribe();
      };
  }

  /** The present, for a page that has just connected. */
  snapshot(): SnapshotMessage {
    this.#executions = executionsView(this.#connector.executions);
    return {
      type: 'snapshot',
      now: this.#now(),
      seq: this.#seq,
      actors: [...this.#actors.values()],
      charts: [...this.#charts.values()],
      chartErrors: [...this.#chartErrors.values()],
      transitions: [...this.#transitions],
      status: this.#status,
      executions: this.#executions,
    };
  }

  /** Resolves when every statechart seen so far is laid out. */
  async charts(): Promise<ChartLayout[]> {
    while (this.#laying.size > 0) await Promise.all(this.#laying.values());
    return [...this.#charts.values()];
  }

  /**
   * Calls `message` with every batch and chart, and `end` once when the connector stops or
   * {@link close} is called. Returns the unsubscribe.
   */
  listen(message: (message: ServerMessage) => void, end: (why: FeedEnd) => void): () => void {
    const listener = { message, end };
    if (this.#ended) {
      end(this.#endedBy);
      return () => {};
    }
    this.#listeners.add(listener);
    this.#sampleExecutions();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopSampling();
    };
  }

  /** Stops reading the connector and ends every listener. Idempotent. */
  close(): void {
    this.#end('closed');
  }

  #onRecord(record: InspectionRecord): void {
    const seq = ++this.#seq;
    if (record.type === 'actor') {
      this.#actors.set(record.actor.id, record.actor);
      if (record.actor.machine !== undefined) this.#layout(record.actor.machine);
      this.#push({ kind: 'actor', seq, at: record.at, actor: record.actor });
    } else if (record.type === 'actor.stopped') {
      const actor = this.#actors.get(record.actor);
      if (actor) {
        // Re-inserted at the end: the map's order is then the order actors stopped in.
        this.#actors.delete(record.actor);
        this.#actors.set(record.actor, { ...actor, status: record.status });
        this.#forgetStopped();
      }
      this.#push({ kind: 'actor.stopped', seq, at: record.at, actor: record.actor, status: record.status });
    } else {
      const actor = this.#actors.get(record.actor);
      if (actor) this.#actors.set(record.actor, { ...actor, states: record.to });
      const row: TransitionRow = {
        seq,
        at: record.at,
        actor: record.actor,
        from: record.from,
        to: record.to,
        // Named as the statechart's edge labels name it: `after retryDelay`, not XState's internal type.
        event: clip(readableEvent(String(record.event.type))),
        ...(record.reason !== undefined && { reason: clip(record.reason) }),
      };
      this.#transitions.push(row);
      if (this.#transitions.length > RECENT_TRANSITIONS) this.#transitions.shift();
      this.#push({ kind: 'transition', ...row });
    }
  }

  #push(record: TreeRecord): void {
    if (this.#listeners.size === 0) return; // nobody to send to: the snapshot has it all
    if (this.#pending.length >= MAX_PENDING) {
      this.#pending = [];
      this.#resync = true;
    } else if (!this.#resync) this.#pending.push(record);
    this.#schedule();
  }

  #forgetStopped(): void {
    const stopped = [...this.#actors.values()].filter((a) => a.status !== 'active');
    for (const actor of stopped.slice(0, Math.max(0, stopped.length - STOPPED_ACTORS))) this.#actors.delete(actor.id);
  }

  #layout(machine: string): void {
    if (this.#charts.has(machine) || this.#chartErrors.has(machine) || this.#laying.has(machine)) return;
    if (this.#charts.size + this.#chartErrors.size >= MAX_CHARTS) return;
    const logic = this.#connector.inspection.machine(machine);
    if (!logic) return;
    const laying = layoutStatechart(logic).then(
      (chart) => {
        this.#laying.delete(machine);
        if (this.#ended) return;
        this.#charts.set(machine, chart);
        this.#broadcast({ type: 'chart', chart });
      },
      (error: unknown) => {
        this.#laying.delete(machine);
        this.#onError?.(error, machine);
        if (this.#ended) return;
        // Kept, not retried: every page that opens shows why (elkjs missing says what to install).
        const failure = { machine, error: clip(error instanceof Error ? error.message : String(error), ERROR_LIMIT) };
        this.#chartErrors.set(machine, failure);
        this.#broadcast({ type: 'chart.error', ...failure });
      },
    );
    this.#laying.set(machine, laying);
  }

  #viewOf(status: ConnectorStatus): StatusView {
    // Status holds no token, but it passes through the same redaction as everything else shown.
    const view = this.#connector.inspection.redact(status) as StatusView;
    const c = status.connection;
    if (c.retryInMs === undefined) {
      this.#retryKey = undefined;
      return view;
    }
    // Status is re-emitted for other actors' changes: the deadline is set when this retry was.
    const key = `${c.state}|${c.reason}|${c.attempt}|${c.retryInMs}`;
    if (key !== this.#retryKey) {
      this.#retryKey = key;
      this.#retryAt = this.#now() + c.retryInMs;
    }
    return { ...view, connection: { ...view.connection, retryAt: this.#retryAt } };
  }

  #sampleExecutions(): void {
    if (this.#sampleTimer || this.#ended) return;
    this.#sampleTimer = setInterval(() => {
      const next = executionsView(this.#connector.executions);
      if (JSON.stringify(next) === JSON.stringify(this.#executions)) return;
      this.#executions = next;
      this.#statusChanged = true;
      this.#schedule();
    }, EXECUTIONS_SAMPLE_MS);
    this.#sampleTimer.unref();
  }

  #stopSampling(): void {
    clearInterval(this.#sampleTimer);
    this.#sampleTimer = undefined;
  }

  #schedule(): void {
    if (this.#flushTimer || this.#listeners.size === 0 || this.#ended) return;
    this.#flushTimer = setTimeout(() => this.#flush(), BATCH_MS);
    this.#flushTimer.unref();
  }

  #flush(): void {
    this.#flushTimer = undefined;
    if (this.#resync) {
      this.#resync = false;
      this.#pending = [];
      this.#statusChanged = false;
      this.#broadcast(this.snapshot());
      return;
    }
    if (this.#pending.length === 0 && !this.#statusChanged) return;
    const records = this.#pending;
    this.#pending = [];
    this.#statusChanged = false;
    this.#executions = executionsView(this.#connector.executions);
    this.#broadcast({ type: 'batch', now: this.#now(), records, status: this.#status, executions: this.#executions });
  }

  #broadcast(message: ServerMessage): void {
    for (const listener of this.#listeners) listener.message(message);
  }

  #end(why: FeedEnd): void {
    if (this.#ended) return;
    this.#endedBy = why;
    // What happened last (the connection closing) is worth showing before the page is told.
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flush();
    }
    this.#ended = true;
    this.#stopSampling();
    this.#unsubscribe();
    for (const listener of [...this.#listeners]) listener.end(why);
    this.#listeners.clear();
    this.#resolveEnded();
  }
}

function executionsView({ capacity, active, outboxDepth, waitingForStorage }: ExecutionsStatus): ExecutionsView {
  return {
    running: capacity.running,
    queued: capacity.queued,
    maxConcurrency: capacity.max_concurrency,
    maxQueue: capacity.max_queue,
    saturated: capacity.saturated,
    active: active.slice(0, ACTIVE_IDS_SHOWN).map(clip),
    activeCount: active.length,
    outboxDepth,
    waitingForStorage,
  };
}

function clip(text: string, limit = TEXT_LIMIT): string {
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}
