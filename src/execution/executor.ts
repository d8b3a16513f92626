import { randomUuid } from '../util/random-uuid.ts';
import { z } from 'zod';
import { monotonicOf, type RuntimeClock, sleepOn } from '../util/clock.ts';
import type { Outbox } from '../delivery/outbox.ts';
import type { Logger } from '../log/logger.ts';
import type { MessageOf } from '../protocol/messages.ts';
import { type Built, executionEventMessage, type Stamp, usageReportMessage } from '../protocol/built-messages.ts';
import { StorageError } from '../adapters/storage.ts';
import { afterHeldWrites } from '../adapters/write-batch.ts';
import type { RecordLog } from '../storage/record-log.ts';
import { type StorageHealth, untilStored } from '../storage/storage-health.ts';
import { addUsage, type HandlerRegistry, type UsageInput } from './handlers.ts';
import { type JobHooks, type JobOutcome, planJob, runJob, type JobStep } from './run-job.ts';
import { SeenRequests } from './seen-requests.ts';
import { withFields } from '../util/with-fields.ts';

type Request = MessageOf<'execution_request'>;
type Terminal = 'completed' | 'failed' | 'cancelled' | 'timed_out';
type Event = Built<'execution_event'>;

/**
 * What the journal keeps of accepted work until its outcome is stored: an execution until its
 * terminal event, a messaging event until its reply.
 */
export type JournalEntry = { request: Request } | { messaging: MessageOf<'messaging_event'> };

/**
 * The journal entry of an accepted execution. A class, not an object literal: V8 pretenures a
 * literal's allocation site once most of its objects outlive a scavenge (executions in flight
 * under load), and then every entry is born old, where a quiet device's ones (settled within a
 * round trip) wait for a full GC; `new` always allocates young (docs/performance.md, "Pretenuring").
 */
class AcceptedRequest {
  constructor(public request: Request) {}
}

/** The executor's limits, with their defaults (`createConnector`'s `executions`). */
export const ExecutorLimits = z.object({
  /** Executions running at once. */
  maxConcurrency: z.number().int().positive().max(10_000).default(4),
  /** Accepted executions waiting for a slot; past it (and with the outbox full) requests are refused `saturated`. */
  maxQueue: z.number().int().nonnegative().max(1_000_000).default(64),
  /** Timeout of a request without `timeout_ms` (default 300 s). Counted from its start. */
  defaultTimeoutMs: z.number().int().positive().max(86_400_000).default(300_000),
  /** Finished executions remembered to answer a redelivery with the stored outcome. */
  retainOutcomes: z.number().int().positive().default(10_000),
});
export type ExecutorLimits = z.output<typeof ExecutorLimits>;

export const defaultExecutorLimits: ExecutorLimits = ExecutorLimits.parse({});

/** The `capacity` message body. */
export type Capacity = Omit<MessageOf<'capacity'>, 'v' | 'id' | 'ts' | 'type'>;

export interface ExecutorOptions {
  deviceId: string;
  handlers: HandlerRegistry;
  outbox: Outbox;
  /** Accepted executions not yet ended: after a crash each one is failed `interrupted`. */
  journal: RecordLog<JournalEntry>;
  clock: RuntimeClock;
  logger: Logger;
  limits?: Partial<ExecutorLimits>;
  /** Called when the device becomes saturated or stops being so. */
  onCapacity?: (capacity: Capacity) => void;
  /** Called once per execution as it ends (for metrics: durations, failures). */
  onEnded?: (ended: ExecutionEnded) => void;
  /**
   * With it, the executor rides out a failing store: while it fails, new requests are refused
   * (a {@link StorageError}, which the inbound side answers with `nack`) and the device reports
   * itself saturated; what accepted work must store waits for storage to recover.
   */
  health?: StorageHealth;
}

/** An execution that ended, as metrics see it. */
export interface ExecutionEnded {
  requestId: string;
  jobType: string;
  outcome: Event['event_type'];
  durationMs: number;
  /** The failure's code (`timeout`, `step_failed`, `handler_error`, …), for a failure. */
  errorCode?: string;
}

/**
 * A run's usage before any is reported. Shared, not a literal per run: a literal's allocation
 * site is pretenured once most runs outlive a scavenge, and then every run's would be born old.
 */
const NO_USAGE: Readonly<Required<UsageInput>> = Object.freeze({ inputTokens: 0, outputTokens: 0, costEstimate: 0 });

/**
 * One execution the executor took. A class, not an object literal: V8 may decide to allocate a
 * literal's objects in the old generation once many of them outlive a scavenge (as runs do with
 * hundreds in flight), and a run born old that ends keeps its request and plan alive through
 * the next scavenge; objects made by `new` are always born young.
 */
class Run {
  /** Made when the handler first reads its signal ({@link signalOf}); most never do. */
  controller: AbortController | undefined = undefined;
  /** Why the run was aborted, once it was: a signal made later starts aborted with it. */
  abortReason: AbortReason | undefined = undefined;
  startedAt: number | undefined = undefined;
  progressCount = 0;
  /** Replaced, never changed, as usage is reported (`addUsage`): most runs keep the shared zero. */
  usage: Readonly<Required<UsageInput>> = NO_USAGE;
  /** When it times out (clock time), and after how long: set when it starts. */
  deadline = Infinity;
  timeoutMs = 0;
  ended = false;

  constructor(
    readonly request: Request,
    readonly journalSeq: number,
    readonly plan: JobStep[],
  ) {}
}

/**
 * Runs execution requests: validates them against the registered handlers, queues them under a
 * concurrency limit, enforces timeouts and cancellation, and writes every lifecycle event and
 * the usage report to the outbox. A request it has seen is never run again: a redelivery of a
 * finished one gets its stored terminal event and usage report again (same ids: the hub drops
 * them), a redelivery of a running one is ignored.
 *
 * Durability: a request is journaled before its `accepted` event is stored, and the journal entry
 * is settled once the terminal event is; `recover()` fails what a crash left in the journal with
 * `interrupted`, so every accepted request ends with exactly one terminal event. The journal
 * entry is what makes a request the device's: once it is on disk the request may be
 * acknowledged, and its events follow through the outbox in order, waiting out a full disk.
 */
export class Executor {
  readonly #o: ExecutorOptions;
  readonly #limits: ExecutorLimits;
  /**
   * Running executions, oldest first. An array, not a Map: a Map that takes and drops an entry
   * per execution replaces its hash table every few executions, and V8 links each replaced table
   * to the next, so a table that reached the old generation kept every later table, and the runs
   * in them, alive through the scavenges until a full collection (docs/performance.md).
   */
  readonly #running: Run[] = [];
  readonly #queue: Run[] = [];
  /**
   * Requests running or queued, known from the outbox after a restart (their events are on their
   * way; a redelivery is ignored), or ended, with the outcome a redelivery gets again.
   */
  readonly #seen: SeenRequests;
  #saturated = false;
  #stopped = false;
  /**
   * One timer for every run's timeout, armed for the earliest deadline, not one per run: arming
   * and clearing a timer per execution was a list insert and removal in Node's timers each time
   * (bench/round-trip). A run that ends leaves it armed; when it fires it times out what is due
   * and arms itself for the next deadline of what still runs.
   */
  #deadlineTimer: unknown = undefined;
  #deadlineAt = Infinity;
  /** A handler's `ctx.progress`, once per executor rather than a closure per run. */
  readonly #progress = (run: Run, data: Record<string, unknown>): void => {
    run.progressCount += 1;
    void this.#emit(run, 'progress', { n: run.progressCount, ...data });
  };

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#limits = { ...defaultExecutorLimits, ...options.limits };
    this.#seen = new SeenRequests(this.#limits.retainOutcomes);
  }

  get capacity(): Capacity {
    return {
      running: this.#running.length,
      queued: this.#queue.length,
      max_concurrency: this.#limits.maxConcurrency,
      max_queue: this.#limits.maxQueue,
      saturated: this.#isSaturated(),
      active: this.active,
    };
  }

  /** Request ids running or queued now. */
  get active(): string[] {
    return [...this.#running, ...this.#queue].map((run) => run.request.request_id);
  }

  /**
   * After a restart: requests with events still in the outbox are known (a redelivery is not run
   * again), and journaled executions that never ended are failed `interrupted`.
   */
  async recover(): Promise<void> {
    for (const { value } of this.#o.outbox.entries()) {
      const message = value.message;
      if (message.type === 'execution_event' && this.#seen.state(message.request_id) === undefined) this.#seen.know(message.request_id);
    }
    for (const record of [...this.#o.journal.pending()]) {
      if (!('request' in record.value)) continue;
      const { request } = record.value;
      this.#o.logger.warn({ request_id: request.request_id }, 'execution interrupted by a restart');
      const run = this.#newRun(request, record.seq, []);
      await this.#end(run, 'failed', {
        error: { code: 'interrupted', message: 'the device restarted while the execution was in progress' },
      });
    }
  }

  /**
   * Takes a request. Resolves once it is durable: journaled, with its `accepted` event handed to
   * the outbox (or, for a refused request, its terminal event stored). Only then may the request
   * be acknowledged.
   *
   * @throws {StorageError} when it cannot be journaled (storage is failing): not taken.
   */
  async receive(request: Request): Promise<void> {
    const id = request.request_id;
    const health = this.#o.health;
    // Nothing new while the store fails: refused, so the hub keeps it and sends it again.
    if (health?.failing) throw health.refusal('request');
    const seen = this.#seen.state(id);
    if (seen) {
      this.#o.logger.info({ request_id: id, state: seen }, 'duplicate delivery; not run again');
      // The stored outcome again, under the same ids: whichever copy reaches the hub counts once.
      // Never waiting for a failing store: refused instead, and the hub sends it again later.
      const outcome = seen === 'ended' ? this.#seen.outcome(id) : undefined;
      if (outcome)
        await Promise.all([
          this.#o.outbox.appendBuilt(outcome.terminal, { wait: false }),
          this.#o.outbox.appendBuilt(outcome.usage, { wait: false }),
        ]);
      return;
    }
    const plan = planJob(request, this.#o.handlers);
    if (!Array.isArray(plan)) {
      this.#o.logger.warn({ request_id: id, code: plan.code }, plan.message);
      return this.#end(this.#newRun(request, 0, []), 'failed', { error: plan });
    }
    if (this.#isSaturated() || this.#stopped) {
      const run = this.#newRun(request, 0, plan);
      return this.#end(run, 'failed', {
        error: { code: 'saturated', message: 'the device is at capacity; try again later', details: { retryable: true, ...this.capacity } },
      });
    }
    this.#seen.activate(id);
    let seq: number;
    try {
      ({ seq } = await this.#o.journal.append(new AcceptedRequest(request)));
    } catch (error) {
      // Not accepted: a redelivery must run it, not take it for a duplicate.
      this.#seen.forget(id);
      if (error instanceof StorageError) health?.failed(error);
      throw error;
    }
    const run = this.#newRun(request, seq, plan);
    this.#queue.push(run);
    // Handed to the outbox before `started` can be, so stored before it; not awaited: on a full
    // disk it waits for room, and the request is the device's already (journaled).
    void this.#emit(run, 'accepted', { queue_position: this.#queue.length });
    this.#startNext();
    this.checkCapacity();
  }

  /** `execution_cancel`: a queued request ends at once; a running one has its signal aborted. */
  async cancel(requestId: string, reason = 'cancelled'): Promise<void> {
    const queued = this.#queue.findIndex((run) => run.request.request_id === requestId);
    const run = queued === -1 ? this.#running.find((r) => r.request.request_id === requestId) : this.#queue.splice(queued, 1)[0];
    if (!run) {
      this.#o.logger.debug({ request_id: requestId }, 'cancel for an execution not running here; ignored');
      return;
    }
    abort(run, { kind: 'cancelled', reason });
    await this.#end(run, 'cancelled', { reason });
  }

  /**
   * Stops taking work and aborts running handlers (`signal.reason.kind === 'shutdown'`). Their
   * journal entries stay: the next start fails them `interrupted`, unless they end before that.
   */
  stop(): void {
    this.#stopped = true;
    this.#disarm();
    for (const run of [...this.#running, ...this.#queue]) abort(run, { kind: 'shutdown' });
  }

  #newRun(request: Request, journalSeq: number, plan: JobStep[]): Run {
    return new Run(request, journalSeq, plan);
  }

  #startNext(): void {
    while (!this.#stopped && this.#running.length < this.#limits.maxConcurrency) {
      const run = this.#queue.shift();
      if (!run) return;
      this.#start(run);
    }
  }

  #start(run: Run): void {
    const { clock, logger } = this.#o;
    this.#running.push(run);
    run.startedAt = clock.now();
    run.timeoutMs = run.request.timeout_ms ?? this.#limits.defaultTimeoutMs;
    // On the monotonic clock: a wall clock stepped meanwhile neither hastens nor delays a timeout.
    run.deadline = monotonicOf(this.#o.clock) + run.timeoutMs;
    if (run.deadline < this.#deadlineAt) this.#arm(run.deadline);
    void this.#emit(run, 'started', {});
    const hooks = new RunHooks(run, clock, logger, this.#progress);
    void runJob(run.plan, hooks).then((outcome: JobOutcome) => {
      // Cancelled or timed out first: a late result is discarded. Stopped: the journal keeps it,
      // and the next start reports it `interrupted`.
      if (run.ended || this.#stopped) return;
      if (outcome.kind === 'completed') return this.#end(run, 'completed', { result: outcome.result ?? null });
      return this.#end(run, 'failed', { error: outcome.error });
    });
  }

  /**
   * Ends an execution once: the terminal event and the usage report go to the outbox, then the
   * journal entry is settled and the slot goes to the next request.
   */
  async #end(run: Run, terminal: Terminal, data: Record<string, unknown>): Promise<void> {
    if (run.ended) return;
    run.ended = true;
    const { clock, outbox, journal, deviceId, logger } = this.#o;
    const id = run.request.request_id;
    // Runs mostly end in the order they started: the search stops near the front.
    const index = this.#running.indexOf(run);
    if (index !== -1) this.#running.splice(index, 1);
    const durationMs = run.startedAt === undefined ? 0 : Math.max(0, clock.now() - run.startedAt);
    // Envelope ids fixed now: a redelivery re-sends these very messages, which the hub drops by id.
    const stamp = { id: randomUuid(), ts: clock.now() };
    let event: Event = this.#event(run, terminal, withFields(data, { duration_ms: durationMs }), stamp);
    const problem = outbox.problemWith(event);
    if (problem) {
      // A result that cannot travel (too large, not JSON) still ends the execution, as a failure.
      logger.warn({ request_id: id, code: problem.code }, 'execution result cannot be sent');
      const code = problem.code === 'too_large' ? 'result_too_large' : 'invalid_result';
      event = this.#event(run, 'failed', { error: { code, message: problem.message }, duration_ms: durationMs }, stamp);
    }
    // One report per execution, whoever writes it (a redelivery, a recovery): the ledger books it once.
    const usage = usageReportMessage(id, deviceId, { durationMs, ...run.usage }, { id: randomUuid(), ts: stamp.ts });
    this.#startNext();
    this.checkCapacity();
    // Told once this turn's frames are written: they carry none of it (src/adapters/write-batch.ts).
    afterHeldWrites(() => this.#reportEnded(run, event, durationMs));
    try {
      // The outcome is remembered as the frames the outbox makes of it (src/execution/seen-requests.ts),
      // taken as each append is called: before any of them is stored, as a redelivery may come meanwhile.
      if (run.journalSeq === 0) {
        // A refusal (no journal entry) must not hold up the inbound line behind a failing store:
        // its terminal event is stored now, or the request itself is refused back to the hub.
        const ending = outbox.appendBuilt(event, { wait: false });
        const terminalFrame = outbox.takeFrame(event);
        this.#seen.end(id, event, usage);
        await ending;
        const reporting = outbox.appendBuilt(usage);
        const usageFrame = outbox.takeFrame(usage);
        if (terminalFrame !== undefined && usageFrame !== undefined) this.#seen.frame(id, terminalFrame, usageFrame);
        await reporting;
      } else {
        const ending = outbox.appendBuilt(event);
        const terminalFrame = outbox.takeFrame(event);
        const reporting = outbox.appendBuilt(usage);
        this.#seen.end(id, event, usage, terminalFrame, outbox.takeFrame(usage));
        await Promise.all([ending, reporting]);
        // Settled only once the end is stored; a settle the disk refused is written when it has
        // room again (left in the journal, a restart would fail a finished execution `interrupted`).
        await untilStored(this.#o.health, () => journal.settle(run.journalSeq));
      }
    } catch (error) {
      // Stopped while the store failed: the journal has it, and the next start reports it.
      if (this.#stopped)
        logger.warn(
          { request_id: id, reason: error instanceof Error ? error.message : String(error) },
          'end of an execution not stored before the stop; reported interrupted on the next start',
        );
      else logger.error({ err: error, request_id: id }, 'cannot store the end of an execution');
      // A refusal has no journal entry: fail the delivery, so it is not acknowledged and comes again.
      if (run.journalSeq === 0) {
        this.#seen.forget(id);
        throw error;
      }
      // Journaled: a restart fails it `interrupted` rather than losing it.
    }
  }

  /** The log line and `onEnded` of an execution that ended with `event`. */
  #reportEnded(run: Run, event: Event, durationMs: number): void {
    const id = run.request.request_id;
    this.#o.logger.info({ request_id: id, outcome: event.event_type, duration_ms: durationMs }, 'execution ended');
    const errorCode = (event.data as { error?: { code?: unknown } }).error?.code;
    this.#o.onEnded?.({
      requestId: id,
      jobType: run.request.job_type,
      outcome: event.event_type,
      durationMs,
      ...(typeof errorCode === 'string' && { errorCode }),
    });
  }

  async #emit(run: Run, type: Exclude<Event['event_type'], Terminal>, data: Record<string, unknown>): Promise<void> {
    try {
      await this.#o.outbox.appendBuilt(this.#event(run, type, data));
    } catch (error) {
      this.#o.logger.error({ err: error, request_id: run.request.request_id, event_type: type }, 'cannot store an execution event');
    }
  }

  /**
   * Event ids are derived from the request: a rewritten event (after a crash) has the same one.
   * `stamp` fixes the envelope's id and time now (the outbox stamps an event without one).
   */
  #event(run: Run, type: Event['event_type'], data: Record<string, unknown>, stamp?: Stamp): Event {
    const kind = type === 'progress' ? { type, n: run.progressCount } : { type };
    return executionEventMessage(run.request.request_id, kind, data, stamp);
  }

  #arm(at: number): void {
    const { clock } = this.#o;
    this.#disarm();
    this.#deadlineAt = at;
    this.#deadlineTimer = clock.setTimeout(() => this.#timeOut(), Math.max(0, at - monotonicOf(clock)));
    // Bookkeeping, not work: it must not keep the host's process alive after the last run ends.
    (this.#deadlineTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  #disarm(): void {
    if (this.#deadlineTimer !== undefined) this.#o.clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
  }

  /** Times out every run whose deadline has come, then waits for the next one's. */
  #timeOut(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineAt = Infinity;
    const now = monotonicOf(this.#o.clock);
    let next = Infinity;
    for (const run of [...this.#running]) {
      if (run.ended) continue;
      if (run.deadline <= now) {
        abort(run, { kind: 'timed_out', timeoutMs: run.timeoutMs });
        void this.#end(run, 'timed_out', { timeout_ms: run.timeoutMs });
      } else next = Math.min(next, run.deadline);
    }
    // Ending a run starts the next from the queue, which may have armed the timer already.
    if (next < this.#deadlineAt && !this.#stopped) this.#arm(next);
  }

  #isSaturated(): boolean {
    const slotsFull = this.#running.length >= this.#limits.maxConcurrency && this.#queue.length >= this.#limits.maxQueue;
    return slotsFull || this.#o.outbox.full || this.#o.health?.failing === true;
  }

  /** Tells `onCapacity` when saturation changed (also after the outbox drains: the connector calls it on acks). */
  checkCapacity(): void {
    const saturated = this.#isSaturated();
    if (saturated === this.#saturated) return;
    this.#saturated = saturated;
    this.#o.onCapacity?.(this.capacity);
  }
}

/**
 * What a run hands its steps. A class, not an object literal with getters: V8 gives each
 * literal that defines accessors a hidden class of its own, whose descriptors hold the getters'
 * closures and, through them, the run. Those hidden classes live in the old generation, so
 * every run stayed reachable until the next full collection and each scavenge promoted every
 * run since the last one (bench/round-trip, docs/performance.md). Functions a handler may take
 * off the context (`const { reportUsage } = ctx`) are own properties, bound to the run.
 */
class RunHooks implements JobHooks {
  readonly request: Request;
  readonly progress: (data: Record<string, unknown>) => void;
  readonly reportUsage: (usage: UsageInput) => void;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly #run: Run;
  readonly #logger: Logger;
  #runLogger: Logger | undefined;

  constructor(run: Run, clock: RuntimeClock, logger: Logger, progress: (run: Run, data: Record<string, unknown>) => void) {
    this.request = run.request;
    this.#run = run;
    this.#logger = logger;
    this.progress = (data) => {
      if (!run.ended) progress(run, data);
    };
    this.reportUsage = (usage) => {
      // Checked here, where the handler hands it in: the usage report is built from it unchecked.
      if (!run.ended) run.usage = addUsage(run.usage, usage);
    };
    this.sleep = (ms) => sleepOn(clock, ms, signalOf(run));
    this.now = () => clock.now();
  }

  // Both made on first use: most handlers read neither.
  get signal(): AbortSignal {
    return signalOf(this.#run);
  }

  get logger(): Logger {
    return (this.#runLogger ??= this.#logger.child({ request_id: this.request.request_id }));
  }
}

/** What `signal.reason` says when a run is aborted. */
type AbortReason = { kind: 'cancelled'; reason: string } | { kind: 'shutdown' } | { kind: 'timed_out'; timeoutMs: number };

function abort(run: Run, reason: AbortReason): void {
  run.abortReason ??= reason;
  run.controller?.abort(reason);
}

/**
 * The run's abort signal, made on first use: an AbortController per execution was 2 % of the
 * device's CPU in bench/round-trip, for handlers that mostly return before anyone aborts them.
 */
function signalOf(run: Run): AbortSignal {
  if (!run.controller) {
    run.controller = new AbortController();
    if (run.abortReason) run.controller.abort(run.abortReason);
  }
  return run.controller.signal;
}
