import { SimulatedClock } from 'xstate';
import { Outbox, type OutboxEntry, type OutboxLoss, type OutboxPolicy } from '../../src/delivery/outbox.ts';
import { type Capacity, type ExecutionEnded, Executor, type ExecutorLimits, type JournalEntry } from '../../src/execution/executor.ts';
import { HandlerRegistry } from '../../src/execution/handlers.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import { type DistributiveOmit, ExecutionRequestMessage, type MessageOf, type Outbound } from '../../src/protocol/messages.ts';
import { createMemoryRecordLog, type RecordLog } from '../../src/storage/record-log.ts';
import type { StorageHealth } from '../../src/storage/storage-health.ts';
import type { RuntimeClock } from '../../src/util/clock.ts';
import { StorageError } from '../../src/adapters/storage.ts';

/** Lets promise chains and setImmediate callbacks run; no timers advance. */
export async function settle(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

let counter = 0;
/** A decoded `execution_request`, as the executor receives it. */
export function request(body: DistributiveOmit<Outbound<'execution_request'>, 'type'>): MessageOf<'execution_request'> {
  return ExecutionRequestMessage.parse({ v: 1, id: `m${++counter}`, ts: 0, type: 'execution_request', ...body });
}

/** An executor over in-memory logs on a SimulatedClock, with its outbox and what it reported. */
export function executorFixture(
  options: {
    limits?: Partial<ExecutorLimits>;
    outbox?: Partial<OutboxPolicy>;
    log?: RecordLog<OutboxEntry>;
    journal?: RecordLog<JournalEntry>;
    health?: StorageHealth;
    /** The executor's clock made over the fixture's SimulatedClock (a wall clock that jumps, say). */
    clockOver?: (clock: SimulatedClock) => RuntimeClock;
  } = {},
) {
  const clock = new SimulatedClock();
  clock.set(1_767_225_600_000);
  const now = () => clock.now();
  const codec = createCodec({ now, receiver: 'device' });
  const log = options.log ?? createMemoryRecordLog<OutboxEntry>({ now });
  const journal = options.journal ?? createMemoryRecordLog<JournalEntry>({ now });
  const losses: OutboxLoss[] = [];
  const health = options.health;
  const outbox = new Outbox({
    log,
    codec,
    now,
    logger: silentLogger(),
    onLoss: (loss) => losses.push(loss),
    ...(options.outbox && { policy: options.outbox }),
    ...(health && { health }),
  });
  const handlers = new HandlerRegistry();
  const capacities: Capacity[] = [];
  const ended: ExecutionEnded[] = [];
  const executor = new Executor({
    deviceId: 'dev-1',
    handlers,
    outbox,
    journal,
    clock: options.clockOver?.(clock) ?? clock,
    logger: silentLogger(),
    onCapacity: (capacity) => capacities.push(capacity),
    onEnded: (end) => ended.push(end),
    ...(options.limits && { limits: options.limits }),
    ...(health && { health }),
  });
  const messages = () => outbox.entries().map((record) => record.value.message);
  const eventsOf = (requestId: string) =>
    messages().filter(
      (m): m is Extract<typeof m, { type: 'execution_event' }> => m.type === 'execution_event' && m.request_id === requestId,
    );
  const usageOf = (requestId: string) =>
    messages().filter((m): m is Extract<typeof m, { type: 'usage_report' }> => m.type === 'usage_report' && m.request_id === requestId);
  const typesOf = (requestId: string) => eventsOf(requestId).map((e) => e.event_type);
  const terminalOf = (requestId: string) =>
    eventsOf(requestId).find((e) => ['completed', 'failed', 'cancelled', 'timed_out'].includes(e.event_type));
  return {
    clock,
    codec,
    log,
    journal,
    outbox,
    handlers,
    executor,
    capacities,
    ended,
    losses,
    messages,
    eventsOf,
    usageOf,
    typesOf,
    terminalOf,
  };
}

/** A promise with its resolve and reject in hand. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A record log that fails like a full disk while `full` is set: appends, acks and settles reject
 * with a {@link StorageError} (ENOSPC) and change nothing. The real failure is tested on a full
 * tmpfs (test/storage/record-log.disk-full.test.ts, test/integration/disk-full.test.ts).
 */
export function fillableLog<T>(inner: RecordLog<T>, name: string): RecordLog<T> & { full: boolean } {
  const refuse = () =>
    Promise.reject(new StorageError(`/state/${name}`, 'cannot write (ENOSPC)', Object.assign(new Error('no space'), { code: 'ENOSPC' })));
  const log = {
    full: false,
    path: inner.path,
    repairs: inner.repairs,
    pending: () => inner.pending(),
    get lastSeq() {
      return inner.lastSeq;
    },
    append: (value: T) => (log.full ? refuse() : inner.append(value)),
    ack: (seq: number) => (log.full ? refuse() : inner.ack(seq)),
    settle: (seq: number) => (log.full ? refuse() : inner.settle(seq)),
    compact: () => inner.compact(),
    close: () => inner.close(),
  };
  return log;
}
