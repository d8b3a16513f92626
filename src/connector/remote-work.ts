import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileStorage } from '../adapters/file-storage.ts';
import { heldWritesDone } from '../adapters/write-batch.ts';
import { createMemoryStorage, type StorageAdapter } from '../adapters/storage.ts';
import type { TelemetryEvent } from '../api/contract.ts';
import { InboundDelivery, type ResumeAnswer, type ResumeCursor } from '../delivery/inbound.ts';
import type { ChannelSendEntry } from '../delivery/channel-sends.ts';
import { Outbox, type OutboxEntry, type OutboxLoss, type OutboxPolicy } from '../delivery/outbox.ts';
import { type Capacity, type ExecutionEnded, Executor, type ExecutorLimits, type JournalEntry } from '../execution/executor.ts';
import { HandlerRegistry } from '../execution/handlers.ts';
import type { Logger } from '../log/logger.ts';
import { MessagingRouter } from '../messaging/router.ts';
import type { Codec } from '../protocol/codec.ts';
import type { Message, Outbound } from '../protocol/messages.ts';
import { ackMessage, type Built, capacityMessage, nackMessage } from '../protocol/built-messages.ts';
import { createMemoryRecordLog, openRecordLog, type RecordLog } from '../storage/record-log.ts';
import { StorageHealth, type StorageStatus } from '../storage/storage-health.ts';
import type { RuntimeClock } from '../util/clock.ts';

/**
 * Where a connector keeps what must survive a crash: the outbox and the journal of accepted
 * executions, and small files (the settings cache). {@link openConnectorStore} opens one in a
 * directory; the default is in memory.
 */
export interface ConnectorStore {
  outbox: RecordLog<OutboxEntry>;
  journal: RecordLog<JournalEntry>;
  /** Whole files written atomically: `settings.json`, the settings cache. Optional for stores made before it. */
  files?: StorageAdapter;
  /** The telemetry queue. Optional for stores made before it. */
  telemetry?: RecordLog<TelemetryEvent>;
  /** Reliable channel messages the hub has not acknowledged. Optional for stores made before it (then in memory). */
  channels?: RecordLog<ChannelSendEntry>;
  /**
   * Resolves when the store takes writes again; the connector calls it, with backoff, while
   * storage is failing. Without one, failed writes are simply tried again after each delay.
   */
  probe?: () => Promise<void>;
}

/**
 * Opens (or creates) the durable store in `dir`: `outbox.log` and `executions.log`, fsync'd
 * append-only logs, `telemetry.log`, the telemetry queue, `channels.log`, reliable channel
 * messages not yet acknowledged, and `settings.json`, the settings
 * cache, replaced atomically (all `0600` in a `0700` directory). Give it to `createConnector(config, { store })`;
 * the connector closes it on `stop()`. A log found damaged (a record torn by a full disk or a
 * crash, with records after it) keeps every complete record; the connector logs each repair
 * (`LogRecord.repairs`) when it starts.
 *
 * @throws {StorageError} when the directory or a file cannot be opened.
 * @throws {TypeError} when `dir` is not a non-empty string (a JavaScript host's unset variable).
 * @example
 * const store = await openConnectorStore(join(defaultStateDir(), 'delivery'));
 * const connector = createConnector(config, { store });
 */
export async function openConnectorStore(dir: string): Promise<ConnectorStore> {
  if (typeof dir !== 'string' || dir === '') {
    throw new TypeError(
      `openConnectorStore(dir): dir must be the store's directory path, got ${dir === '' ? 'an empty string' : typeof dir}`,
    );
  }
  const [outbox, journal, telemetry, channels] = await Promise.all([
    openRecordLog<OutboxEntry>(join(dir, 'outbox.log')),
    openRecordLog<JournalEntry>(join(dir, 'executions.log')),
    openRecordLog<TelemetryEvent>(join(dir, 'telemetry.log')),
    openRecordLog<ChannelSendEntry>(join(dir, 'channels.log')),
  ]);
  return { outbox, journal, files: createFileStorage(dir), telemetry, channels, probe: () => probeDirectory(dir) };
}

/** Bytes a probe writes: a page, so a disk with room for nothing at all is not taken as back. */
const PROBE_BYTES = 4_096;

/** Writes, syncs and removes a small file in `dir`: resolves when the directory takes writes. */
async function probeDirectory(dir: string): Promise<void> {
  const path = join(dir, '.probe');
  try {
    const file = await open(path, 'w', 0o600);
    try {
      const { bytesWritten } = await file.write(Buffer.alloc(PROBE_BYTES));
      if (bytesWritten < PROBE_BYTES) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
      await file.datasync();
    } finally {
      await file.close();
    }
  } finally {
    await unlink(path).catch(() => undefined);
  }
}

/** An in-memory store: nothing survives the process. */
export function createMemoryStore(now: () => number): ConnectorStore {
  return {
    outbox: createMemoryRecordLog({ now }),
    journal: createMemoryRecordLog({ now }),
    files: createMemoryStorage(),
    telemetry: createMemoryRecordLog({ now }),
    channels: createMemoryRecordLog({ now }),
  };
}

export interface RemoteWorkOptions {
  deviceId: string;
  codec: Codec;
  clock: RuntimeClock;
  logger: Logger;
  store: ConnectorStore;
  limits?: Partial<ExecutorLimits>;
  outboxPolicy?: Partial<OutboxPolicy>;
  onResume: (answer: ResumeAnswer) => void;
  onLoss: (loss: OutboxLoss) => void;
  /** Each execution as it ends. */
  onExecutionEnded?: (ended: ExecutionEnded) => void;
  /** Each change of the store's health (`status.storage`). */
  onStorage?: (status: StorageStatus) => void;
}

/** The connector's side of the session that the runtime needs. */
export interface SessionLink {
  resume: ResumeAnswer | undefined;
  /** The largest frame the hub accepts, from `connect_ack`. */
  maxFrameBytes: number;
  /** Sends an encoded frame; false when the connection is gone. */
  sendFrame(frame: string): boolean;
  /** Sends a message that is not kept (`capability_reload_result`), checked by its schema; false when the connection is gone. */
  send(message: Outbound): boolean;
  /** Sends a message that is not kept and was made by a typed constructor (`ack`, `nack`, `capacity`); false when the connection is gone. */
  sendBuilt(message: Built): boolean;
}

/**
 * Remote execution for one connector: the handler registry, the executor, the outbox and inbound
 * delivery, wired together. The data plane (data-plane.ts) feeds it session changes and frames.
 */
export class RemoteWork {
  readonly handlers = new HandlerRegistry();
  readonly outbox: Outbox;
  readonly executor: Executor;
  readonly messaging: MessagingRouter;
  /** Whether the store takes writes; while it does not, new work is refused and stored work waits. */
  readonly storage: StorageHealth;
  /** The host's hook for `capability_reload`: resolves when the new packs are loaded. */
  reloadHook: ((packs: string[]) => unknown) | undefined;
  readonly #inbound: InboundDelivery;
  readonly #options: RemoteWorkOptions;
  #link: SessionLink | undefined;
  #recovered: Promise<void> | undefined;
  #started!: () => void;

  constructor(options: RemoteWorkOptions) {
    this.#options = options;
    const { codec, clock, logger, store } = options;
    for (const log of [store.outbox, store.journal, store.telemetry, store.channels]) {
      for (const repair of log?.repairs ?? [])
        logger.warn({ actor: 'store', ...repair }, 'damaged bytes dropped from a log; the records after them were kept');
    }
    this.storage = new StorageHealth({
      clock,
      logger: logger.child({ actor: 'storage' }),
      ...(store.probe && { probe: store.probe }),
      onChange: (status) => {
        // Saturated while failing: the hub holds new work instead of sending it to be refused.
        this.executor.checkCapacity();
        options.onStorage?.(status);
      },
    });
    this.outbox = new Outbox({
      health: this.storage,
      log: store.outbox,
      codec,
      now: () => clock.now(),
      logger: logger.child({ actor: 'outbox' }),
      onLoss: options.onLoss,
      ...(options.outboxPolicy && { policy: options.outboxPolicy }),
    });
    this.executor = new Executor({
      health: this.storage,
      deviceId: options.deviceId,
      handlers: this.handlers,
      outbox: this.outbox,
      journal: store.journal,
      clock,
      logger: logger.child({ actor: 'executor' }),
      onCapacity: (capacity) => this.#announce(capacity),
      ...(options.onExecutionEnded && { onEnded: options.onExecutionEnded }),
      ...(options.limits && { limits: options.limits }),
    });
    this.messaging = new MessagingRouter({
      health: this.storage,
      outbox: this.outbox,
      journal: store.journal,
      clock,
      logger: logger.child({ actor: 'messaging' }),
    });
    // Inbound work waits for recovery, which waits for start: what a crash left running ends
    // (as `execution_ended` events) only once the host could subscribe to them.
    const started = new Promise<void>((resolve) => (this.#started = resolve));
    this.#inbound = new InboundDelivery(
      logger.child({ actor: 'inbound' }),
      started.then(() => this.recover()),
    );
  }

  /**
   * Fails what a crash left running (once; inbound work waits for it). The connector calls it on
   * `start()`; it logs its own failures through inbound delivery.
   */
  recover(): Promise<void> {
    this.#recovered ??= this.executor.recover().then(() => this.messaging.recover());
    this.#started();
    return this.#recovered;
  }

  /** What the next `connect` carries in `resume`. */
  cursor(): ResumeCursor {
    return this.#inbound.cursor();
  }

  connected(link: SessionLink): void {
    this.#link = link;
    if (link.resume) this.#options.onResume(link.resume);
    this.#inbound.connected(
      link.resume,
      (seq) => link.sendBuilt(ackMessage(seq)),
      (seq) => link.sendBuilt(nackMessage(seq)),
    );
    link.sendBuilt(capacityMessage(this.executor.capacity));
    this.outbox.attach((frame) => link.sendFrame(frame), link.maxFrameBytes);
  }

  disconnected(): void {
    this.#link = undefined;
    this.#inbound.disconnected();
    this.outbox.detach();
  }

  /** A frame from the hub. Returns the work it started, for tests and `stop()`. */
  receive(message: Message): Promise<void> {
    switch (message.type) {
      case 'ack':
        return this.#acknowledged(message.seq);
      case 'execution_request':
        return this.#inbound.process(message.seq, () => this.executor.receive(message), `execution_request:${message.request_id}`);
      case 'execution_cancel':
        return this.#inbound.process(message.seq, () => this.executor.cancel(message.request_id, message.reason));
      case 'messaging_event':
        return this.#inbound.process(message.seq, () => this.messaging.receive(message), `messaging_event:${message.request_id}`);
      case 'capability_reload':
        return this.#reload(message.reload_id, message.packs);
      default:
        return Promise.resolve();
    }
  }

  /** Stops the executor, lets inbound work settle, and closes the store. */
  async stop(): Promise<void> {
    this.executor.stop();
    // An ack taken this turn is recorded after the turn's write: let it in while the store takes
    // writes (a failing one would hold it until it recovers; its entries are then sent again).
    if (!this.storage.failing) await this.#lastAck;
    // What waits for a failing store is not written now: the journal has it for the next start.
    this.storage.stop();
    await this.#inbound.idle();
    const { outbox, journal } = this.#options.store;
    await Promise.all([outbox.close(), journal.close()]);
  }

  /** Runs the host's reload hook and tells the hub how it went. */
  async #reload(reloadId: string, packs: string[]): Promise<void> {
    const logger = this.#options.logger.child({ actor: 'reload', reload_id: reloadId });
    let result: { ok: boolean; error?: string };
    if (!this.reloadHook) result = { ok: false, error: 'this connector has no capability reload hook' };
    else {
      try {
        await this.reloadHook(packs);
        result = { ok: true };
      } catch (error) {
        result = { ok: false, error: error instanceof Error ? error.message : String(error) };
      }
    }
    logger[result.ok ? 'info' : 'warn']({ packs, ok: result.ok }, 'capability reload');
    this.#link?.send({ type: 'capability_reload_result', reload_id: reloadId, ...result });
  }

  /** What `connect.runtime` says: version, job types, and the tools and playbooks registered. */
  describe(version: string, channels: string[]): NonNullable<Outbound<'connect'>['runtime']> {
    return {
      version,
      job_types: ['tool', 'playbook', 'chain'],
      tools: this.handlers.names('tool'),
      playbooks: this.handlers.names('playbook'),
      channels,
    };
  }

  /**
   * The hub's `ack`: the outbox lets go of what it acknowledges, and a drained outbox may end a
   * saturation. When everything was sent, this turn's frames wait on none of it: it runs right
   * after they are written (src/adapters/write-batch.ts). The hub's ack of an execution's events
   * comes in the read that brings the next request, whose events leave that much sooner
   * (bench/round-trip, docs/performance.md). When entries wait for the window, at once: what the
   * ack lets out goes in this turn's write, not in a write of its own.
   */
  #acknowledged(seq: number): Promise<void> {
    const acked = this.outbox.unsent ? this.outbox.ack(seq) : heldWritesDone().then(() => this.outbox.ack(seq));
    return (this.#lastAck = acked.then(this.#checkCapacity));
  }

  /** The latest ack's bookkeeping: `stop()` lets it finish before the store closes. */
  #lastAck: Promise<void> = Promise.resolve();

  /** Once per work, not a closure per ack. */
  readonly #checkCapacity = (): void => this.executor.checkCapacity();

  #announce(capacity: Capacity): void {
    this.#link?.sendBuilt(capacityMessage(capacity));
  }
}
