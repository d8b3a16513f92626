import type { Logger } from '../log/logger.ts';
import type { MessageOf } from '../protocol/messages.ts';
import {
  ExecutionError,
  type ExecutionContext,
  type HandledJobType,
  type HandlerRegistry,
  type JobHandler,
  type UsageInput,
} from './handlers.ts';

type Request = MessageOf<'execution_request'>;

/** One unit of work: the request itself (a tool or playbook), or one step of a chain. */
export interface JobStep {
  jobType: HandledJobType;
  name: string;
  handler: JobHandler;
  input: unknown;
}

/**
 * A {@link JobStep} as a plan holds it for the whole run. A class, not an object literal: V8
 * pretenures a literal's allocation site once most of its objects outlive a scavenge (hundreds of
 * runs in flight), and a step born old that ends keeps its input alive through the next scavenge;
 * `new` always allocates young (docs/performance.md, "Pretenuring").
 */
class PlannedStep implements JobStep {
  constructor(
    public jobType: HandledJobType,
    public name: string,
    public handler: JobHandler,
    public input: unknown,
  ) {}
}

/** A failure found before anything runs: the request is failed at once with this. */
export interface Refusal {
  code: 'unknown_job_type' | 'invalid_input';
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Resolves a request into the steps to run, each with its handler and validated input. A
 * request with an unknown tool or playbook, or inputs its schema refuses, is a {@link Refusal}.
 */
export function planJob(request: Request, handlers: HandlerRegistry): JobStep[] | Refusal {
  const steps =
    request.job_type === 'chain'
      ? request.steps.map((step) => ({
          jobType: step.job_type,
          name: step.job_type === 'tool' ? step.tool_name : step.playbook_code,
          inputs: step.inputs ?? {},
        }))
      : [
          {
            jobType: request.job_type,
            name: request.job_type === 'tool' ? request.tool_name : request.playbook_code,
            inputs: request.inputs,
          },
        ];
  // Made by a builtin, not an array literal: a literal's allocation site is pretenured once most
  // plans outlive a scavenge (runs in flight), and a plan born old keeps its steps' inputs alive
  // through the scavenge after its run ends (docs/performance.md, "Pretenuring").
  const plan: JobStep[] = Array.of();
  for (const [index, step] of steps.entries()) {
    const where = request.job_type === 'chain' ? { step: index } : {};
    const handler = handlers.get(step.jobType, step.name);
    if (!handler) {
      return {
        code: 'unknown_job_type',
        message: `no handler for ${step.jobType} '${step.name}'${request.job_type === 'chain' ? ` (step ${index})` : ''}`,
        details: { ...where, job_type: step.jobType, name: step.name },
      };
    }
    const parsed = handler.input.safeParse(step.inputs);
    if (!parsed.success) {
      return {
        code: 'invalid_input',
        message: `invalid input for ${step.jobType} '${step.name}'${request.job_type === 'chain' ? ` (step ${index})` : ''}`,
        details: { ...where, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
      };
    }
    plan.push(new PlannedStep(step.jobType, step.name, handler, parsed.data));
  }
  return plan;
}

/** How a job ended, as the executor books it. */
export type JobOutcome =
  { kind: 'completed'; result: unknown } | { kind: 'failed'; error: { code: string; message: string; details?: Record<string, unknown> } };

export interface JobHooks {
  request: Request;
  signal: AbortSignal;
  logger: Logger;
  progress(data: Record<string, unknown>): void;
  reportUsage(usage: UsageInput): void;
  sleep(ms: number): Promise<void>;
  now(): number;
}

/**
 * Runs the steps in order, each step's output handed to the next (`ctx.chain`). A chain emits a
 * progress event as each step starts and ends; a failing step fails the chain with the step named.
 * Never throws: a handler's error becomes a `failed` outcome.
 */
export async function runJob(plan: JobStep[], hooks: JobHooks): Promise<JobOutcome> {
  const chain = hooks.request.job_type === 'chain';
  const outputs: unknown[] = [];
  for (const [index, step] of plan.entries()) {
    const ctx = new StepContext(hooks, step, index, chain ? outputs : undefined);
    // Only a chain names its steps: a literal held across the handler's await would outlive a scavenge.
    const named = chain ? { step: index, job_type: step.jobType, name: step.name } : undefined;
    if (chain) hooks.progress({ step_event: 'started', ...named });
    try {
      outputs.push(await step.handler.run(step.input, ctx));
    } catch (error) {
      const failure = failureOf(error);
      if (!chain) return { kind: 'failed', error: failure };
      return {
        kind: 'failed',
        error: {
          code: 'step_failed',
          message: `step ${index} (${step.jobType} '${step.name}') failed: ${failure.message}`,
          details: { ...named, error: failure },
        },
      };
    }
    if (chain) hooks.progress({ step_event: 'completed', ...named });
  }
  return { kind: 'completed', result: chain ? { output: outputs.at(-1), steps: outputs } : outputs[0] };
}

/**
 * The `ctx` a handler gets for one step. A class, not an object literal with getters: V8 gives
 * each literal that defines accessors a hidden class of its own, which kept every run reachable
 * from the old generation until a full collection (see `RunHooks` in ./executor.ts). The
 * functions are own properties, so a handler may take them off the context.
 */
class StepContext implements ExecutionContext {
  readonly requestId: string;
  readonly jobType: HandledJobType;
  readonly name: string;
  readonly executionContext: ExecutionContext['executionContext'];
  readonly progress: (data?: Record<string, unknown>) => void;
  readonly reportUsage: (usage: UsageInput) => void;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  // Declared, not initialised: a step outside a chain has no `chain` property at all.
  declare readonly chain?: ExecutionContext['chain'];
  readonly #hooks: JobHooks;
  readonly #step: number | undefined;
  #stepLogger: Logger | undefined;

  /** `outputs`: inside a chain, the outputs of the steps before this one. */
  constructor(hooks: JobHooks, step: JobStep, index: number, outputs: unknown[] | undefined) {
    this.requestId = hooks.request.request_id;
    this.jobType = step.jobType;
    this.name = step.name;
    this.executionContext = hooks.request.execution_context;
    this.progress = outputs ? (data = {}) => hooks.progress({ step: index, ...data }) : (data = {}) => hooks.progress(data);
    this.reportUsage = hooks.reportUsage;
    this.sleep = hooks.sleep;
    this.now = hooks.now;
    this.#hooks = hooks;
    this.#step = outputs ? index : undefined;
    if (outputs) (this as { chain?: ExecutionContext['chain'] }).chain = { step: index, previous: outputs.at(-1), outputs: [...outputs] };
  }

  // Read through: the executor makes the signal and the logger only for a handler that uses them.
  get signal(): AbortSignal {
    return this.#hooks.signal;
  }

  get logger(): Logger {
    if (this.#step === undefined) return this.#hooks.logger;
    return (this.#stepLogger ??= this.#hooks.logger.child({ step: this.#step }));
  }
}

function failureOf(error: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  if (error instanceof ExecutionError) {
    return { code: error.code, message: error.message, ...(error.details && { details: error.details }) };
  }
  return { code: 'handler_error', message: error instanceof Error ? error.message : String(error) };
}
