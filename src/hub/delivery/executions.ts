import type { Subscriber } from 'rxjs';
import type { MessageOf } from '../../protocol/index.ts';
import { Observable } from '../../util/rx.ts';

type EventType = MessageOf<'execution_event'>['event_type'];

/** Where an execution is, as the hub sees it. */
export type ExecutionStatus =
  /** Held at the hub: the device is offline, saturated, or not reached yet. */
  | 'queued'
  /** Sent to the device, not accepted yet. */
  | 'delivered'
  | 'accepted'
  | 'running'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'timed_out'
  /** Waited past the resume window without reaching the device. */
  | 'undelivered';

/** The statuses an execution ends in: nothing moves it on from them. */
export const TERMINAL: ReadonlySet<ExecutionStatus> = new Set(['completed', 'failed', 'cancelled', 'timed_out', 'undelivered']);

/** One execution event as the hub received it. */
export interface ExecutionEventRecord {
  event_id: string;
  event_type: EventType;
  data: Record<string, unknown>;
  /** Hub time of receipt. */
  received_at: number;
}

/** What `hub.execution(id)` and `GET /v1/executions/{id}` report. */
export interface ExecutionSnapshot {
  request_id: string;
  device_id: string;
  tenant_id: string;
  job_type: MessageOf<'execution_request'>['job_type'];
  status: ExecutionStatus;
  created_at: number;
  updated_at: number;
  events: ExecutionEventRecord[];
  /** The terminal event's data, once there is one. */
  outcome?: Record<string, unknown>;
}

/** The end of an execution: its final status and the terminal event's data. */
export interface ExecutionResult {
  request_id: string;
  status: Extract<ExecutionStatus, 'completed' | 'failed' | 'cancelled' | 'timed_out' | 'undelivered'>;
  data: Record<string, unknown>;
}

/**
 * A dispatched execution: its events as they arrive (replayed from the start for a late
 * subscriber, complete after the terminal one) and its final result.
 *
 * @example
 * const run = hub.execute('laptop-1', { job_type: 'tool', tool_name: 'echo', inputs: { text: 'hi' } }, { tenantId: 'acme' });
 * run.events.subscribe((e) => console.log(e.event_type));
 * const { status, data } = await run.result; // 'completed', { result: { text: 'hi' }, duration_ms: 3 }
 */
export interface ExecutionHandle {
  readonly requestId: string;
  readonly events: Observable<ExecutionEventRecord>;
  readonly result: Promise<ExecutionResult>;
  /**
   * Settles once the request is kept where the hub's engine keeps its queues: at once on the
   * memory engine, after the write on Redis. `POST /v1/devices/{id}/executions` answers 202 only
   * then, so an accepted request is not lost with a node that dies right after answering. Rejects
   * when the engine could not store it.
   */
  readonly stored: Promise<void>;
  /** Asks the device to cancel (or withdraws the request if it never left the hub). */
  cancel(reason?: string): void;
}

/** Events an execution may have before its event ids get a set of their own; fewer are found by a scan. */
const SCAN_EVENTS = 8;

interface Tracked {
  snapshot: ExecutionSnapshot;
  /**
   * The event ids recorded, once there are more than {@link SCAN_EVENTS}. Most executions have
   * four events and are kept for a while after their end (`retain`): a set each was a share of
   * what every scavenge had to copy (bench/round-trip).
   */
  seen: Set<string> | undefined;
  /** Who follows the events live (see {@link ExecutionStore.events}); none until someone subscribes. */
  watchers: Set<Subscriber<ExecutionEventRecord>> | undefined;
  result: Promise<ExecutionResult>;
  /** Until the end: then dropped, as is nothing else the finished record needs. */
  settle: ((result: ExecutionResult) => void) | undefined;
}

const STATUS_OF: Partial<Record<EventType, ExecutionStatus>> = {
  accepted: 'accepted',
  started: 'running',
  progress: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
  timed_out: 'timed_out',
};

/**
 * The hub's executions: one record per request id, its events deduplicated by `event_id`, and
 * exactly one terminal event (anything after it is counted, not recorded). Finished records are
 * kept up to `retain`, oldest forgotten first.
 */
export class ExecutionStore {
  /**
   * Told of each event recorded and each end made here (several hub nodes keep a copy in their
   * store, so any node answers for an execution); not of copies of another node's.
   */
  mirror: ((snapshot: ExecutionSnapshot, event: ExecutionEventRecord | undefined) => void) | undefined;
  readonly #records = new Map<string, Tracked>();
  /** Ids of finished records, oldest first: the order they are forgotten in. */
  readonly #finished: string[] = [];
  readonly #retain: number;
  /** Events dropped as duplicates or as arriving after the terminal one. */
  duplicates = 0;

  constructor(retain: number) {
    this.#retain = retain;
  }

  has(requestId: string): boolean {
    return this.#records.has(requestId);
  }

  /** Starts tracking a request. */
  create(
    request: MessageOf<'execution_request'> | { request_id: string; job_type: ExecutionSnapshot['job_type'] },
    where: { device_id: string; tenant_id: string },
    now: number,
  ): Tracked {
    let settle: (result: ExecutionResult) => void = () => {};
    const result = new Promise<ExecutionResult>((resolve) => {
      settle = resolve;
    });
    const tracked: Tracked = {
      snapshot: {
        request_id: request.request_id,
        ...where,
        job_type: request.job_type,
        status: 'queued',
        created_at: now,
        updated_at: now,
        events: [],
      },
      seen: undefined,
      watchers: undefined,
      result,
      settle,
    };
    this.#records.set(request.request_id, tracked);
    this.#trim();
    return tracked;
  }

  /**
   * A record's events: those so far first, then each as it comes, complete after the terminal
   * one. Replayed from the record itself, which keeps them anyway: a ReplaySubject per execution
   * held a second copy and cost the hub its share of CPU (bench/round-trip).
   */
  events(tracked: Tracked): Observable<ExecutionEventRecord> {
    return new Observable((subscriber) => {
      for (const record of tracked.snapshot.events) subscriber.next(record);
      if (TERMINAL.has(tracked.snapshot.status)) {
        subscriber.complete();
        return undefined;
      }
      const watchers = (tracked.watchers ??= new Set());
      watchers.add(subscriber);
      return () => watchers.delete(subscriber);
    });
  }

  get(requestId: string): Tracked | undefined {
    return this.#records.get(requestId);
  }

  /** Who a request was dispatched to, if the hub knows it. */
  ownerOf(requestId: string): { device_id: string; tenant_id: string } | undefined {
    return this.#records.get(requestId)?.snapshot;
  }

  /** A copy of a record, safe to hand out. */
  snapshot(requestId: string): ExecutionSnapshot | undefined {
    const tracked = this.#records.get(requestId);
    return tracked && structuredClone(tracked.snapshot);
  }

  /** Moves a request to `status` unless it has ended (delivery bookkeeping). */
  mark(requestId: string, status: 'delivered' | 'queued', now: number): void {
    const tracked = this.#records.get(requestId);
    if (!tracked || TERMINAL.has(tracked.snapshot.status)) return;
    if (status === 'delivered' && tracked.snapshot.status !== 'queued') return;
    tracked.snapshot.status = status;
    tracked.snapshot.updated_at = now;
  }

  /**
   * Records an event from the device that ran the request. Returns false when it was not
   * recorded: unknown request, another device's or tenant's, a duplicate, or after the end.
   */
  record(event: MessageOf<'execution_event'>, from: { device_id: string; tenant_id: string }, now: number, copy = false): boolean {
    const tracked = this.#records.get(event.request_id);
    if (!tracked) return false;
    const { snapshot } = tracked;
    // Isolation: a device reports on its own requests only, whatever the frame says.
    if (snapshot.device_id !== from.device_id || snapshot.tenant_id !== from.tenant_id) return false;
    if (TERMINAL.has(snapshot.status) || seenIn(tracked, event.event_id)) {
      this.duplicates += 1;
      return false;
    }
    const record: ExecutionEventRecord = { event_id: event.event_id, event_type: event.event_type, data: event.data, received_at: now };
    const count = snapshot.events.push(record);
    if (tracked.seen) tracked.seen.add(event.event_id);
    else if (count > SCAN_EVENTS) tracked.seen = new Set(snapshot.events.map((e) => e.event_id));
    snapshot.updated_at = now;
    const status = STATUS_OF[event.event_type];
    // A late `accepted` or `started` (after a resend) does not move a running request back.
    if (status && !(status === 'accepted' && snapshot.status === 'running')) snapshot.status = status;
    if (tracked.watchers) for (const watcher of tracked.watchers) watcher.next(record);
    if (TERMINAL.has(snapshot.status)) this.#finish(tracked, event.data);
    if (!copy) this.mirror?.(snapshot, record);
    return true;
  }

  /** Ends a request the device never got (resume window passed, or withdrawn before delivery). */
  end(requestId: string, status: 'undelivered' | 'cancelled', data: Record<string, unknown>, now: number, copy = false): void {
    const tracked = this.#records.get(requestId);
    if (!tracked || TERMINAL.has(tracked.snapshot.status)) return;
    tracked.snapshot.status = status;
    tracked.snapshot.updated_at = now;
    this.#finish(tracked, data);
    if (!copy) this.mirror?.(tracked.snapshot, undefined);
  }

  #finish(tracked: Tracked, data: Record<string, unknown>): void {
    tracked.snapshot.outcome = data;
    if (tracked.watchers) for (const watcher of tracked.watchers) watcher.complete();
    tracked.watchers = undefined;
    tracked.settle?.({ request_id: tracked.snapshot.request_id, status: tracked.snapshot.status as ExecutionResult['status'], data });
    // Ended: no more events are recorded, nor is it settled again.
    tracked.settle = undefined;
    tracked.seen = undefined;
    this.#finished.push(tracked.snapshot.request_id);
    this.#trim();
  }

  /**
   * Forgets the records that finished first while there are more than `retain`. Their own
   * queue, not a walk over the records map from its start: that walk passes every entry
   * deleted before, a cost that grew with the hub's age (bench/round-trip).
   */
  #trim(): void {
    while (this.#records.size > this.#retain && this.#finished.length > 0) this.#records.delete(this.#finished.shift()!);
  }
}

/** Whether `eventId` was recorded for `tracked`. */
function seenIn(tracked: Tracked, eventId: string): boolean {
  if (tracked.seen) return tracked.seen.has(eventId);
  const { events } = tracked.snapshot;
  for (let i = 0; i < events.length; i++) if (events[i]!.event_id === eventId) return true;
  return false;
}
