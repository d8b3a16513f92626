import type { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import type { MessageOf } from '../protocol/messages.ts';

/** Job types a host registers handlers for; `chain` is run by the runtime from tools and playbooks. */
export type HandledJobType = 'tool' | 'playbook';

/** Usage a handler adds to what the runtime measures (duration). Adds up over calls and chain steps. */
export interface UsageInput {
  inputTokens?: number;
  outputTokens?: number;
  /** In the platform's billing currency. */
  costEstimate?: number;
}

/**
 * `total` with `usage` added: what `ctx.reportUsage` does. Token counts must stay non-negative
 * safe integers and the cost a non-negative finite number, as the `usage_report` schema wants;
 * anything else is refused here, where the handler hands it in.
 *
 * @throws {TypeError} naming the field, when `usage` holds something else; `total` is unchanged.
 * @example
 * addUsage({ inputTokens: 1, outputTokens: 0, costEstimate: 0 }, { inputTokens: 2 }); // { inputTokens: 3, outputTokens: 0, costEstimate: 0 }
 */
export function addUsage(total: Readonly<Required<UsageInput>>, usage: UsageInput): Required<UsageInput> {
  const sum = {
    inputTokens: total.inputTokens + tokens(usage, 'inputTokens'),
    outputTokens: total.outputTokens + tokens(usage, 'outputTokens'),
    costEstimate: total.costEstimate + cost(usage),
  };
  if (!Number.isSafeInteger(sum.inputTokens) || !Number.isSafeInteger(sum.outputTokens) || !Number.isFinite(sum.costEstimate)) {
    throw new TypeError("reportUsage: the execution's usage no longer fits a usage report (tokens past 2^53, or cost not finite)");
  }
  return sum;
}

function tokens(usage: UsageInput, field: 'inputTokens' | 'outputTokens'): number {
  const value = (usage as Record<string, unknown> | null | undefined)?.[field] ?? 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`reportUsage: ${field} must be a non-negative integer, got ${describeValue(value)}`);
  }
  return value;
}

function cost(usage: UsageInput): number {
  const value = (usage as Record<string, unknown> | null | undefined)?.costEstimate ?? 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`reportUsage: costEstimate must be a non-negative number, got ${describeValue(value)}`);
  }
  return value;
}

/** A value for an error message: its type, and the number itself (never a host's string or object). */
function describeValue(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value;
}

/** What a handler gets besides its validated input. */
export interface ExecutionContext {
  readonly requestId: string;
  readonly jobType: HandledJobType;
  /** The tool name or playbook code. */
  readonly name: string;
  /** `workspace_id` and `metadata` from the request. */
  readonly executionContext: MessageOf<'execution_request'>['execution_context'];
  /**
   * Aborted on `execution_cancel`, on the request's timeout, and when the connector stops. Its
   * `reason` says which (`{ kind: 'cancelled' | 'timed_out' | 'shutdown' }`). Pass it on to
   * `fetch`, child processes and the like.
   */
  readonly signal: AbortSignal;
  /** A child of the connector's logger bound to the request id. */
  readonly logger: Logger;
  /** Emits a `progress` event. Ignored once the execution has ended. */
  progress(data?: Record<string, unknown>): void;
  /**
   * Adds token usage and cost to this execution's `usage_report`.
   *
   * @throws {TypeError} when a token count is not a non-negative integer or the cost not a non-negative number.
   */
  reportUsage(usage: UsageInput): void;
  /**
   * Waits `ms` on the connector's clock; rejects (an `AbortError`) when {@link signal} aborts.
   * Use it instead of `setTimeout` in a handler: a session recording keeps this wait as a timer
   * and a replay (docs/recording.md) fires it at its recorded time, where a real-time wait would
   * leave the replay without the handler's later events.
   */
  sleep(ms: number): Promise<void>;
  /** The connector's clock time, epoch ms: what a replay reproduces, where `Date.now()` is not. */
  now(): number;
  /** Inside a chain: this step's index and the outputs of the steps before it. */
  readonly chain?: { step: number; previous: unknown; outputs: readonly unknown[] };
}

/**
 * A handler for one tool or playbook: a zod schema for its inputs and the function that runs it.
 * What `run` resolves is the `completed` event's `result`; what it throws fails the execution
 * (an {@link ExecutionError} keeps its code and details, anything else is `handler_error`).
 *
 * @example
 * connector.handle('tool', 'web_search', {
 *   input: z.object({ query: z.string(), max_results: z.number().int().default(5) }),
 *   async run({ query, max_results }, ctx) {
 *     ctx.progress({ stage: 'searching' });
 *     const results = await search(query, max_results, { signal: ctx.signal });
 *     ctx.reportUsage({ inputTokens: 120, outputTokens: 480, costEstimate: 0.002 });
 *     return { results };
 *   },
 * });
 */
export interface JobHandler<S extends z.ZodType = z.ZodType> {
  input: S;
  run(input: z.output<S>, ctx: ExecutionContext): unknown;
}

/**
 * Codes of a `failed` event's `error.code`. A handler may use its own codes too (through
 * {@link ExecutionError}); these are the runtime's.
 */
export type ExecutionFailureCode = 'unknown_job_type' | 'invalid_input' | 'handler_error' | 'step_failed' | 'saturated' | 'interrupted';

/** A structured failure a handler throws: its code, message and details reach the hub as is. */
export class ExecutionError extends Error {
  override readonly name = 'ExecutionError';
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The handlers a connector runs, by job type and name. */
export class HandlerRegistry {
  readonly #handlers = new Map<string, JobHandler>();

  /**
   * Registers (or replaces) the handler of a tool or playbook.
   *
   * @throws {TypeError} for a job type other than `tool` or `playbook`, or a handler without a
   *   zod `input` schema and a `run` function (found now, not at the first request: such a
   *   handler could never answer one).
   */
  register(jobType: HandledJobType, name: string, handler: JobHandler): void {
    if (jobType !== 'tool' && jobType !== 'playbook') {
      throw new TypeError(`handlers are registered for 'tool' or 'playbook', not '${String(jobType)}' (chains run their steps' handlers)`);
    }
    const { input, run } = (handler ?? {}) as Partial<JobHandler>;
    if (typeof (input as { safeParse?: unknown } | undefined)?.safeParse !== 'function') {
      throw new TypeError(
        `the handler of ${jobType} '${name}' needs an input schema (a zod schema: z.object({ … }), or z.object({}) for none)`,
      );
    }
    if (typeof run !== 'function') throw new TypeError(`the handler of ${jobType} '${name}' needs a run function`);
    this.#handlers.set(`${jobType}:${name}`, handler);
  }

  get(jobType: HandledJobType, name: string): JobHandler | undefined {
    return this.#handlers.get(`${jobType}:${name}`);
  }

  /** Names registered for a job type, sorted. */
  names(jobType: HandledJobType): string[] {
    const prefix = `${jobType}:`;
    return [...this.#handlers.keys()]
      .filter((key) => key.startsWith(prefix))
      .map((key) => key.slice(prefix.length))
      .sort();
  }
}
