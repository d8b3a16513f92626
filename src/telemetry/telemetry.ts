import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ApiError, RETRYABLE } from '../api/api-error.ts';
import { TelemetryEvent } from '../api/contract.ts';
import type { RuntimeClock } from '../util/clock.ts';
import type { Logger } from '../log/logger.ts';
import { retryDelayAfter } from '../util/backoff.ts';
import { nextRandom } from '../util/random.ts';
import type { RecordLog } from '../storage/record-log.ts';
import { redactProperties } from './redact.ts';

/** Telemetry batching, queue bound and retry. */
export const TelemetryPolicy = z.object({
  /** A batch goes out once this many events wait… */
  batchSize: z.number().int().min(1).max(500).default(50),
  /** …or this long after the first of them. */
  flushIntervalMs: z.number().int().positive().default(30_000),
  /** Events kept while the hub is away; past it the oldest go (and are counted). */
  maxQueue: z.number().int().positive().max(100_000).default(1_000),
  /** Backoff after a 5xx, 429 or network failure: full jitter from `retryBaseMs` doubling to `retryCapMs`. */
  retryBaseMs: z.number().int().positive().default(1_000),
  retryCapMs: z.number().int().positive().default(300_000),
});
export type TelemetryPolicy = z.output<typeof TelemetryPolicy>;

/** Where batches go: the hub's `POST /v1/telemetry` (the API client), and optional mirrors. */
export type TelemetrySink = (batch: TelemetryEvent[]) => Promise<unknown>;

/** What the telemetry client did, for the host (`connector.telemetry.stats`). */
export interface TelemetryStats {
  enabled: boolean;
  queued: number;
  sent: number;
  batches: number;
  /** Events dropped: the queue was full (oldest first), the hub refused a batch (4xx), or the event was invalid. */
  dropped: { full: number; rejected: number; invalid: number };
  /** Failed sends that will be retried. */
  failures: number;
}

export interface TelemetryOptions {
  /** The durable queue (`telemetry.log` in the connector store). */
  log: RecordLog<TelemetryEvent>;
  send: TelemetrySink;
  clock: RuntimeClock;
  logger: Logger;
  policy?: Partial<TelemetryPolicy>;
  /** The host's or user's consent; default off. */
  enabled: boolean;
  /** Forced off by the environment (`CLOUDTETHER_TELEMETRY=off`, `DO_NOT_TRACK=1`): consent cannot turn it on. */
  forcedOff?: boolean;
  seed?: number;
}

/** An event the host passed that is not one (its name): refused at once, counted. */
export class TelemetryError extends Error {
  override readonly name = 'TelemetryError';
}

/**
 * The telemetry client: events validated, their properties redacted, appended to a durable
 * bounded queue, and sent in batches (by count and by time) with one batch in flight;
 * acknowledged when the hub took them. 5xx, 429 (honouring `Retry-After`) and network failures
 * are retried with backoff; any other refusal drops the batch and counts it. Off unless the
 * host or user allows it; turning it off drops the queue.
 *
 * @example
 * connector.telemetry.setConsent(userSaidYes);
 * connector.telemetry.track('task.completed', { duration_ms: 1834, tool: 'web_search' });
 */
export class Telemetry {
  readonly #options: TelemetryOptions;
  readonly #policy: TelemetryPolicy;
  #enabled: boolean;
  #timer: unknown;
  #sending: Promise<void> | undefined;
  #rng: number;
  #failures = 0;
  #stopped = false;
  readonly #stats: Omit<TelemetryStats, 'enabled' | 'queued'> = {
    sent: 0,
    batches: 0,
    dropped: { full: 0, rejected: 0, invalid: 0 },
    failures: 0,
  };
  /** Drops not yet reported to the hub (in a `telemetry.dropped` event). */
  #unreported = 0;
  /** Appends in flight: a flush waits for them. */
  #appending: Promise<unknown> = Promise.resolve();

  constructor(options: TelemetryOptions) {
    this.#options = options;
    this.#policy = TelemetryPolicy.parse(options.policy ?? {});
    this.#enabled = options.enabled && !options.forcedOff;
    this.#rng = options.seed ?? 1;
    // Consent withdrawn while the process was down: what it left is not ours to send.
    if (!this.#enabled && options.log.pending().length > 0) this.#dropAll();
  }

  /** Starts sending what an earlier run left queued (the connector calls it on `start()`, once it can authenticate). */
  start(): void {
    if (this.#enabled && this.#options.log.pending().length > 0) this.#schedule(0);
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get stats(): TelemetryStats {
    return { enabled: this.#enabled, queued: this.#options.log.pending().length, ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Turns telemetry on or off. Off drops what is queued. `forcedOff` wins over consent. */
  setConsent(allowed: boolean): void {
    const enabled = allowed && !this.#options.forcedOff;
    if (enabled === this.#enabled) return;
    this.#enabled = enabled;
    if (!enabled) {
      this.#cancelTimer();
      // A backoff belonged to the batches dropped now: the next events start afresh.
      this.#failures = 0;
      this.#dropAll();
    }
  }

  /**
   * Records an event (when enabled): properties are redacted, then queued durably. Returns
   * false when telemetry is off.
   *
   * @throws {TelemetryError} when the name is not `lower_case.dotted`, whether telemetry is on or
   *   off: a bad name shows in development, not only once a user opts in.
   */
  track(event: string, properties: Record<string, unknown> = {}): boolean {
    const name = TelemetryEvent.shape.event.safeParse(event);
    if (!name.success) {
      this.#stats.dropped.invalid++;
      throw new TelemetryError(`invalid telemetry event '${event.slice(0, 128)}': ${name.error.issues[0]?.message ?? 'invalid'}`);
    }
    if (!this.#enabled || this.#stopped) return false;
    const parsed = TelemetryEvent.safeParse({
      id: randomUUID(),
      event,
      timestamp: this.#options.clock.now(),
      properties: redactProperties(properties),
    });
    if (!parsed.success) {
      this.#stats.dropped.invalid++;
      throw new TelemetryError(`invalid telemetry event '${event.slice(0, 128)}': ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    }
    this.#enqueue(parsed.data);
    return true;
  }

  /** Sends what is queued now (one batch after another). Resolves when the queue is empty or a send failed. */
  async flush(): Promise<void> {
    this.#cancelTimer();
    await this.#appending;
    while (this.#enabled && this.#options.log.pending().length > 0) {
      const before = this.#stats.batches;
      await this.#sendBatch();
      if (this.#stats.batches === before) return;
    }
  }

  /** Stops the timers; what is queued stays in the log for the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer();
    await this.#appending;
    await this.#sending;
  }

  #enqueue(event: TelemetryEvent): void {
    const log = this.#options.log;
    // Appends run one after another, so the bound is checked against what is really queued.
    this.#appending = this.#appending
      .then(async () => {
        // Bounded: the oldest go first, counted and reported in the next batch.
        const over = log.pending().length + 1 - this.#policy.maxQueue;
        if (over > 0) {
          this.#stats.dropped.full += over;
          this.#unreported += over;
          await log.ack(log.pending()[over - 1]!.seq);
        }
        await log.append(event);
        // A backoff under way decides when the next send is.
        if (this.#failures > 0) return;
        if (log.pending().length >= this.#policy.batchSize) this.#schedule(0);
        else if (this.#timer === undefined) this.#schedule(this.#policy.flushIntervalMs);
      })
      .catch((error: unknown) => this.#options.logger.error({ err: error }, 'cannot queue a telemetry event'));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#cancelTimer();
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      // A storage failure while acknowledging must not become an unhandled rejection.
      this.#drain().catch((error: unknown) => this.#options.logger.error({ err: error }, 'telemetry send failed'));
    }, ms);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #drain(): Promise<void> {
    await this.#appending;
    if (this.#enabled) await this.#sendBatch();
  }

  /** Sends the oldest batch; acknowledges it when the hub took it, or drops it when refused. */
  #sendBatch(): Promise<void> {
    this.#sending ??= (async () => {
      const log = this.#options.log;
      // Room for the `telemetry.dropped` report: a batch never goes over the hub's 500.
      const records = log.pending().slice(0, this.#policy.batchSize - (this.#unreported > 0 ? 1 : 0));
      if (records.length === 0) return;
      const batch = records.map((r) => r.value);
      if (this.#unreported > 0) {
        batch.push({
          id: randomUUID(),
          event: 'telemetry.dropped',
          timestamp: this.#options.clock.now(),
          properties: { count: this.#unreported, reason: 'queue_full' },
        });
      }
      const reported = this.#unreported;
      try {
        await this.#options.send(batch);
        this.#unreported -= reported;
        this.#stats.sent += records.length;
        this.#stats.batches++;
        this.#failures = 0;
        await log.ack(records.at(-1)!.seq);
        const left = log.pending().length;
        if (left > 0) this.#schedule(left >= this.#policy.batchSize ? 0 : this.#policy.flushIntervalMs);
      } catch (error) {
        // No token yet (before the first, or during a refresh) is no refusal: wait and retry.
        const noCredential = error instanceof ApiError && error.kind === 'authentication' && error.status === undefined;
        if (error instanceof ApiError && !RETRYABLE.has(error.kind) && !noCredential) {
          // The hub will never take this batch: keep the rest moving.
          this.#options.logger.warn({ kind: error.kind, status: error.status, events: records.length }, 'telemetry batch refused; dropped');
          this.#stats.dropped.rejected += records.length;
          this.#stats.batches++;
          await log.ack(records.at(-1)!.seq);
          if (log.pending().length > 0) this.#schedule(0);
          return;
        }
        this.#failures++;
        this.#stats.failures++;
        const [random, rng] = nextRandom(this.#rng);
        this.#rng = rng;
        const delay = retryDelayAfter(
          { baseMs: this.#policy.retryBaseMs, capMs: this.#policy.retryCapMs },
          this.#failures,
          random,
          error instanceof ApiError ? error.retryAfterMs : undefined,
        );
        this.#options.logger.debug({ err: error, retryInMs: delay }, 'telemetry batch not sent; retrying');
        this.#schedule(delay);
      }
    })().finally(() => {
      this.#sending = undefined;
    });
    return this.#sending;
  }

  /** Drops everything queued, after the appends under way. A storage failure is logged, never thrown. */
  #dropAll(): void {
    const log = this.#options.log;
    this.#appending = this.#appending
      .then(async () => {
        if (log.pending().length > 0) await log.ack(log.lastSeq);
        this.#unreported = 0;
      })
      .catch((error: unknown) => this.#options.logger.error({ err: error }, 'cannot drop the telemetry queue'));
  }
}
