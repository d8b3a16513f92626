import type { Subscriber } from 'rxjs';
import type { MessageOf } from '../../protocol/index.ts';
import { Observable } from '../../util/rx.ts';
import { StringTable } from '../../util/string-table.ts';
import { afterHeldWrites } from '../../adapters/write-batch.ts';
import { FinishedForm, STRIDE } from './finished-form.ts';
import { FinishedRecords } from './finished-records.ts';

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
  /**
   * Each event as the device sent it. Its `data` is the hub's record's own object, not a copy:
   * read it, do not change it (a change may or may not show in later snapshots).
   */
  readonly events: Observable<ExecutionEventRecord>;
  /** The end: status and the terminal event's data, the record's own object as with {@link events} (read-only). */
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

/**
 * An event id kept as what follows its request id (`:accepted`, `:end`; the form
 * built-messages.ts gives every event): one shared object per distinct suffix instead of a
 * string per event. An id of another form is kept as the string it is.
 */
interface EventIdSuffix {
  readonly suffix: string;
}

/** Distinct suffixes kept shared, at most: past that, new ones are kept as whole ids (progress events number theirs). */
const MAX_SUFFIXES = 256;
/**
 * Only the suffixes built-messages.ts makes are shared, and the three every execution has are
 * there from the start: a device sending ids of its own making cannot fill the table that every
 * tenant's records share.
 */
const SHAREABLE = /^:(?:accepted|started|end|progress:[1-9][0-9]{0,5})$/;
const SUFFIXES = new Map<string, EventIdSuffix>([':accepted', ':started', ':end'].map((text) => [text, Object.freeze({ suffix: text })]));
/**
 * The three every execution has, by length (each its own): found without cutting the suffix
 * out of the id, a string made and hashed per event (bench/round-trip).
 */
const COMMON_SUFFIX_BY_LENGTH: Array<EventIdSuffix | undefined> = [];
for (const shared of SUFFIXES.values()) COMMON_SUFFIX_BY_LENGTH[shared.suffix.length] = shared;

/**
 * Finished records kept as objects, the newest, before they go off the heap as bytes
 * ({@link FinishedRecords}, {@link FinishedForm}): the usage report that follows an execution's end asks for its
 * owner (in bench/round-trip, pipelined, none came later than 16 ends after), and a record made
 * bytes well within a scavenge's worth of executions (≈650–900 there) dies young. One asked for
 * later is parsed back.
 */
const HOT_FINISHED = 32;

interface Tracked {
  readonly request_id: string;
  readonly device_id: string;
  readonly tenant_id: string;
  readonly job_type: ExecutionSnapshot['job_type'];
  status: ExecutionStatus;
  readonly created_at: number;
  updated_at: number;
  /**
   * The events, {@link STRIDE} fields each, in one array: a record kept for `retain`
   * executions after its end is copied by every scavenge until it is old, and an object per
   * event (with a string of its id) was most of what it copied (bench/round-trip).
   */
  readonly events: unknown[];
  /** The terminal event's data, once there is one. */
  outcome: Record<string, unknown> | undefined;
  /**
   * The event ids recorded, once there are more than {@link SCAN_EVENTS}. Most executions have
   * four events and are kept for a while after their end (`retain`): a set each was a share of
   * what every scavenge had to copy (bench/round-trip).
   */
  seen: Set<string> | undefined;
  /** Who follows the events live (see {@link ExecutionStore.events}); none until someone subscribes. */
  watchers: Set<Subscriber<ExecutionEventRecord>> | undefined;
  /**
   * The handle's result, until the end: then dropped, with the rest the finished record does not
   * need (whoever awaits it holds the promise; the record kept for `retain` executions need not).
   */
  result: Promise<ExecutionResult> | undefined;
  settle: ((result: ExecutionResult) => void) | undefined;
  /** With a {@link ExecutionStore.mirror}: the record as the mirror reads it, kept up to date until the end. */
  view: ExecutionSnapshot | undefined;
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
  /** Records by request id: live ones and the newest finished. Not a `Map`: see {@link StringTable}. */
  readonly #records = new StringTable<Tracked>();
  /**
   * Ids of finished records, oldest first from {@link #oldest}: the order they are forgotten in.
   * Read from an index and cut back now and then, not shifted: a shift per finished record was
   * a share of the hub's CPU (bench/round-trip).
   */
  #finished: string[] = [];
  #oldest = 0;
  /** Finished records past the newest {@link HOT_FINISHED}, as bytes off the heap (objects when the form would not give them back exactly). */
  readonly #cold = new FinishedRecords<Tracked>();
  readonly #form = new FinishedForm();
  readonly #retain: number;
  /** Whether {@link #cool} is to run after this turn's writes. */
  #coolScheduled = false;
  /** Events dropped as duplicates or as arriving after the terminal one. */
  duplicates = 0;

  constructor(retain: number) {
    this.#retain = retain;
  }

  has(requestId: string): boolean {
    return this.#records.has(requestId) || this.#cold.has(requestId);
  }

  /** Starts tracking a request. */
  create(
    request: MessageOf<'execution_request'> | { request_id: string; job_type: ExecutionSnapshot['job_type'] },
    where: { device_id: string; tenant_id: string },
    now: number,
  ): Tracked & { result: Promise<ExecutionResult> } {
    let settle: (result: ExecutionResult) => void = () => {};
    const result = new Promise<ExecutionResult>((resolve) => {
      settle = resolve;
    });
    const tracked = {
      request_id: request.request_id,
      device_id: where.device_id,
      tenant_id: where.tenant_id,
      job_type: request.job_type,
      status: 'queued' as ExecutionStatus,
      created_at: now,
      updated_at: now,
      events: [] as unknown[],
      outcome: undefined,
      seen: undefined,
      watchers: undefined,
      result,
      settle,
      view: undefined,
    };
    this.#records.set(request.request_id, tracked);
    this.#forgetPastRetain();
    return tracked;
  }

  /**
   * A record's events: those so far first, then each as it comes, complete after the terminal
   * one. Replayed from the record itself, which keeps them anyway: a ReplaySubject per execution
   * held a second copy and cost the hub its share of CPU (bench/round-trip).
   */
  events(tracked: Tracked): Observable<ExecutionEventRecord> {
    return new Observable((subscriber) => {
      for (let i = 0; i < tracked.events.length; i += STRIDE) subscriber.next(eventAt(tracked, i));
      if (TERMINAL.has(tracked.status)) {
        subscriber.complete();
        return undefined;
      }
      const watchers = (tracked.watchers ??= new Set());
      watchers.add(subscriber);
      return () => watchers.delete(subscriber);
    });
  }

  /** Who a request was dispatched to, if the hub knows it. */
  ownerOf(requestId: string): { request_id: string; device_id: string; tenant_id: string } | undefined {
    return this.#records.get(requestId) ?? this.#coldOwner(requestId);
  }

  /** A copy of a record, safe to hand out. */
  snapshot(requestId: string): ExecutionSnapshot | undefined {
    const tracked = this.#records.get(requestId);
    if (tracked) return structuredClone(snapshotOf(tracked));
    const kept = this.#cold.get(requestId);
    if (kept === undefined) return undefined;
    // Read afresh: a copy already, as the structured clone of the record would be.
    return kept instanceof Uint8Array ? this.#form.snapshot(requestId, kept) : structuredClone(snapshotOf(kept));
  }

  #coldOwner(requestId: string): { request_id: string; device_id: string; tenant_id: string } | undefined {
    const kept = this.#cold.get(requestId);
    if (!(kept instanceof Uint8Array)) return kept;
    const [deviceId, tenantId] = this.#form.owner(kept);
    return { request_id: requestId, device_id: deviceId, tenant_id: tenantId };
  }

  /** Moves a request to `status` unless it has ended (delivery bookkeeping). */
  mark(requestId: string, status: 'delivered' | 'queued', now: number): void {
    const tracked = this.#records.get(requestId);
    if (!tracked || TERMINAL.has(tracked.status)) return;
    if (status === 'delivered' && tracked.status !== 'queued') return;
    tracked.status = status;
    tracked.updated_at = now;
  }

  /**
   * Records an event from the device that ran the request. Returns false when it was not
   * recorded: unknown request, another device's or tenant's, a duplicate, or after the end.
   */
  record(event: MessageOf<'execution_event'>, from: { device_id: string; tenant_id: string }, now: number, copy = false): boolean {
    const tracked = this.#records.get(event.request_id);
    if (!tracked) {
      // Finished a while ago: counted as a duplicate, if it is that device's.
      const owner = this.#coldOwner(event.request_id);
      if (owner && owner.device_id === from.device_id && owner.tenant_id === from.tenant_id) this.duplicates += 1;
      return false;
    }
    // Isolation: a device reports on its own requests only, whatever the frame says.
    if (tracked.device_id !== from.device_id || tracked.tenant_id !== from.tenant_id) return false;
    if (TERMINAL.has(tracked.status) || seenIn(tracked, event.event_id)) {
      this.duplicates += 1;
      return false;
    }
    const { events } = tracked;
    events.push(keptId(tracked.request_id, event.event_id), event.event_type, event.data, now);
    if (tracked.seen) tracked.seen.add(event.event_id);
    else if (events.length > SCAN_EVENTS * STRIDE) tracked.seen = new Set(eventIds(tracked));
    tracked.updated_at = now;
    const status = STATUS_OF[event.event_type];
    // A late `accepted` or `started` (after a resend) does not move a running request back.
    if (status && !(status === 'accepted' && tracked.status === 'running')) tracked.status = status;
    // A copy (another node's event) is not mirrored: the view is built afresh when one next is.
    if (copy) tracked.view = undefined;
    const mirror = copy ? undefined : this.mirror;
    // The event as handed out: made only for who reads it.
    const record = tracked.watchers || mirror ? eventAt(tracked, events.length - STRIDE) : undefined;
    if (tracked.watchers) for (const watcher of tracked.watchers) watcher.next(record!);
    if (TERMINAL.has(tracked.status)) this.#finish(tracked, event.data);
    if (mirror) this.#mirror(mirror, tracked, record);
    return true;
  }

  /** Ends a request the device never got (resume window passed, or withdrawn before delivery). */
  end(requestId: string, status: 'undelivered' | 'cancelled', data: Record<string, unknown>, now: number, copy = false): void {
    const tracked = this.#records.get(requestId);
    if (!tracked || TERMINAL.has(tracked.status)) return;
    tracked.status = status;
    tracked.updated_at = now;
    this.#finish(tracked, data);
    if (!copy && this.mirror) this.#mirror(this.mirror, tracked, undefined);
  }

  /**
   * Tells the mirror: the record as a snapshot, built once and then kept up to date while the
   * execution runs (a build per event would cost the square of a long run's events), dropped at the end.
   */
  #mirror(mirror: NonNullable<ExecutionStore['mirror']>, tracked: Tracked, record: ExecutionEventRecord | undefined): void {
    let view = tracked.view;
    if (!view) view = snapshotOf(tracked);
    else {
      if (record) view.events.push(record);
      view.status = tracked.status;
      view.updated_at = tracked.updated_at;
      if (tracked.outcome !== undefined) view.outcome = tracked.outcome;
    }
    tracked.view = TERMINAL.has(tracked.status) ? undefined : view;
    mirror(view, record);
  }

  #finish(tracked: Tracked, data: Record<string, unknown>): void {
    tracked.outcome = data;
    if (tracked.watchers) for (const watcher of tracked.watchers) watcher.complete();
    tracked.watchers = undefined;
    tracked.settle?.({ request_id: tracked.request_id, status: tracked.status as ExecutionResult['status'], data });
    // Ended: no more events are recorded, nor is it settled again.
    tracked.settle = undefined;
    tracked.result = undefined;
    tracked.seen = undefined;
    this.#finished.push(tracked.request_id);
    this.#forgetPastRetain();
    // Moving records off the heap (FinishedForm.encode) is most of an end's bookkeeping and nothing this
    // turn's frames wait for: it runs after they are written, once per turn (bench/round-trip,
    // docs/performance.md). Until then more than HOT_FINISHED finished records may be on the heap.
    if (!this.#coolScheduled) {
      this.#coolScheduled = true;
      afterHeldWrites(this.#cool);
    }
  }

  /**
   * Forgets the records that finished first while there are more than `retain` (the ones off
   * the heap are older than any still on it): at once, so `retain` holds within a turn too. Their
   * own queue, not a walk over the records map from its start: that walk passes every entry
   * deleted before, a cost that grew with the hub's age (bench/round-trip).
   */
  #forgetPastRetain(): void {
    const finished = this.#finished;
    while (this.#records.size + this.#cold.size > this.#retain) {
      if (this.#cold.size > 0) this.#cold.dropOldest();
      else if (this.#oldest < finished.length) {
        this.#records.delete(finished[this.#oldest]!);
        finished[this.#oldest++] = '';
      } else break;
    }
  }

  /**
   * Moves the finished records past the newest {@link HOT_FINISHED} off the heap (oldest first,
   * so those off it stay older than any on it), and cuts the queue of finished ids back. Run
   * after the turn's frames are written (see {@link #finish}); an arrow, so no closure per turn.
   */
  readonly #cool = (): void => {
    this.#coolScheduled = false;
    const finished = this.#finished;
    while (finished.length - this.#oldest > HOT_FINISHED) {
      const requestId = finished[this.#oldest]!;
      const tracked = this.#records.get(requestId)!;
      // Kept off the heap before it leaves the records: this runs from the write batch, where a
      // throw reaches no caller, and must not take a record with it.
      const length = this.#form.encode(tracked);
      if (length === undefined) this.#cold.add(requestId, tracked);
      else this.#cold.addBytes(requestId, this.#form.bytes, length);
      this.#records.delete(requestId);
      finished[this.#oldest++] = '';
    }
    // Cut back once the forgotten part is most of it: each id is moved at most once more.
    if (this.#oldest > 1_024 && this.#oldest * 2 > finished.length) {
      this.#finished = finished.slice(this.#oldest);
      this.#oldest = 0;
    }
  };
}

/** What a record keeps of `eventId`: its suffix, shared, when it is `requestId` and a suffix; else the id itself. */
function keptId(requestId: string, eventId: string): string | EventIdSuffix {
  if (eventId.length <= requestId.length || !eventId.startsWith(requestId)) return eventId;
  const common = COMMON_SUFFIX_BY_LENGTH[eventId.length - requestId.length];
  if (common !== undefined && eventId.endsWith(common.suffix)) return common;
  const text = eventId.slice(requestId.length);
  let suffix = SUFFIXES.get(text);
  if (suffix === undefined) {
    if (SUFFIXES.size >= MAX_SUFFIXES || !SHAREABLE.test(text)) return eventId;
    suffix = Object.freeze({ suffix: text });
    SUFFIXES.set(text, suffix);
  }
  return suffix;
}

/** The id of the event at `index` in `tracked.events`. */
function eventIdAt(tracked: Tracked, index: number): string {
  const kept = tracked.events[index] as string | EventIdSuffix;
  return typeof kept === 'string' ? kept : tracked.request_id + kept.suffix;
}

function eventIds(tracked: Tracked): string[] {
  const ids: string[] = [];
  for (let i = 0; i < tracked.events.length; i += STRIDE) ids.push(eventIdAt(tracked, i));
  return ids;
}

/** The event at `index` in `tracked.events`, as handed out. */
function eventAt(tracked: Tracked, index: number): ExecutionEventRecord {
  const { events } = tracked;
  return {
    event_id: eventIdAt(tracked, index),
    event_type: events[index + 1] as EventType,
    data: events[index + 2] as Record<string, unknown>,
    received_at: events[index + 3] as number,
  };
}

/** A record as `hub.execution(id)` reports it (its event data shared, not copied). */
function snapshotOf(tracked: Tracked): ExecutionSnapshot {
  const events: ExecutionEventRecord[] = [];
  for (let i = 0; i < tracked.events.length; i += STRIDE) events.push(eventAt(tracked, i));
  const snapshot: ExecutionSnapshot = {
    request_id: tracked.request_id,
    device_id: tracked.device_id,
    tenant_id: tracked.tenant_id,
    job_type: tracked.job_type,
    status: tracked.status,
    created_at: tracked.created_at,
    updated_at: tracked.updated_at,
    events,
  };
  if (tracked.outcome !== undefined) snapshot.outcome = tracked.outcome;
  return snapshot;
}

/** Whether `eventId` was recorded for `tracked`. */
function seenIn(tracked: Tracked, eventId: string): boolean {
  if (tracked.seen) return tracked.seen.has(eventId);
  const { events, request_id: requestId } = tracked;
  for (let i = 0; i < events.length; i += STRIDE) {
    const kept = events[i] as string | EventIdSuffix;
    if (typeof kept === 'string') {
      if (kept === eventId) return true;
    } else if (eventId.length === requestId.length + kept.suffix.length && eventId.endsWith(kept.suffix) && eventId.startsWith(requestId))
      return true;
  }
  return false;
}
