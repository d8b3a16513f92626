import type { Actor } from 'xstate';
import type { Subject } from '../util/rx.ts';
import { filter, firstValueFrom } from '../util/rx.ts';
import type { Logger } from '../log/logger.ts';
import { reapOrphans, type supervisorMachine } from '../machines/supervisor.ts';
import type { Network } from '../network/network.ts';
import type { SessionRecording } from '../recording/session-recording.ts';
import type { InspectionStream } from '../inspection-events/stream.ts';
import { createStatelyInspector, type StatelyInspector, type StatelyInspectorOptions } from '../inspection-events/stately.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { trackRuntime } from '../telemetry/runtime-events.ts';
import type { RuntimeClock } from '../util/clock.ts';
import type { ConnectorConfig } from './config.ts';
import type { ConnectorEvent, ExecutionsStatus } from './connector-types.ts';
import type { RemoteWork } from './remote-work.ts';
import type { DeviceSettings } from './settings.ts';
import type { StatusFeed } from './status-feed.ts';

/** The parts a connector starts and stops, in the order it starts them. */
export interface LifecycleParts {
  cfg: ConnectorConfig;
  actor: Actor<typeof supervisorMachine>;
  feed: StatusFeed;
  settings: Pick<DeviceSettings<unknown>, 'load' | 'stop'>;
  runtime: RemoteWork;
  telemetry: Telemetry;
  /** Each closed after the runtime stops; a failure is logged with its `what`, never thrown. */
  logs: { what: string; close(): Promise<void> }[];
  recording: SessionRecording | undefined;
  network: Network | undefined;
  inspection: InspectionStream;
  stately: StatelyInspectorOptions | undefined;
  clock: RuntimeClock;
  log: Logger;
  events: Subject<ConnectorEvent>;
  executions: () => ExecutionsStatus;
}

/**
 * A connector's `start()` and `stop()`: what starts, in which order, and the one shutdown every
 * later `stop()` call shares. `stop()` disconnects with a close frame first, so the hub hears the
 * device leave before the stores it wrote through are closed.
 */
export class ConnectorLifecycle {
  readonly #parts: LifecycleParts;
  #started = false;
  #stopping: Promise<void> | undefined;
  #stopRuntimeEvents: () => void = () => {};
  #stately: StatelyInspector | undefined;

  constructor(parts: LifecycleParts) {
    this.#parts = parts;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Started and not stopping. */
  get running(): boolean {
    return this.#started && !this.#stopping;
  }

  /** `stop()` was called: host calls made now come after the session's end. */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const { cfg, actor, feed, settings, runtime, telemetry, recording, inspection, log } = this.#parts;
    // Origin and path only: a query string may carry a secret.
    const where = cfg.url === undefined ? null : `${new URL(cfg.url).origin}${new URL(cfg.url).pathname}`;
    log.info({ url: where, standalone: cfg.url === undefined }, 'starting');
    recording?.host('start');
    if (this.#parts.stately) {
      const inspector = createStatelyInspector(this.#parts.stately);
      inspection.observe((event) => inspector.inspect(event));
      this.#stately = inspector;
    }
    // What a crash left running ends now, with the host listening (inbound delivery logs a failure).
    runtime.recover().catch(() => undefined);
    actor.start();
    actor.send({ type: 'connect' });
    void settings.load();
    telemetry.start();
    this.#stopRuntimeEvents = trackRuntime({
      telemetry,
      events$: this.#parts.events,
      status: () => feed.status,
      executions: this.#parts.executions,
      clock: this.#parts.clock,
      metricsIntervalMs: cfg.telemetry.metricsIntervalMs,
    });
    feed.refresh();
  }

  stop(): Promise<void> {
    if (!this.#started) return Promise.resolve();
    if (!this.#stopping) this.#parts.recording?.host('stop');
    this.#stopping ??= this.#shutDown();
    return this.#stopping;
  }

  async #shutDown(): Promise<void> {
    const { actor, feed, settings, runtime, telemetry, logs, recording, network, log, events } = this.#parts;
    if (actor.getSnapshot().status === 'active') {
      actor.send({ type: 'disconnect' });
      feed.refresh();
      await firstValueFrom(feed.state$.pipe(filter((s) => s.connection.state === 'closed' || s.connection.state === 'stopped')));
    } else {
      // A supervisor that died on an error takes no events, and XState leaves its children running.
      reapOrphans(actor);
    }
    actor.stop();
    feed.refresh();
    this.#stately?.stop();
    await settings.stop();
    this.#stopRuntimeEvents();
    await telemetry.stop();
    for (const entry of logs) await entry.close().catch((error: unknown) => log.error({ err: error }, `cannot close the ${entry.what}`));
    await runtime.stop().catch((error: unknown) => log.error({ err: error }, 'cannot close the store'));
    await recording?.end().catch((error: unknown) => log.error({ err: error }, 'cannot close the session recording'));
    network?.close();
    log.info('stopped');
    feed.state$.complete();
    events.complete();
  }
}
