import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { Logger } from '../log/logger.ts';
import type { ConnectorEvent } from '../status/connector-event.ts';
import { BehaviorSubject } from '../util/rx.ts';
import { diffStatus, readStatus, STATUS_ACTORS, type ConnectorStatus, type StatusActor } from './status.ts';
import type { StorageStatus } from '../storage/storage-health.ts';

/**
 * The connector's status as it changes: recomputed when an actor the status reads takes a new
 * snapshot (or the store's health changes), published on `state$` when anything in it moved,
 * and each actor whose state or reason changed logged and told as a `state` event.
 */
export class StatusFeed {
  readonly state$: BehaviorSubject<ConnectorStatus>;
  #status: ConnectorStatus;
  /** Only a new snapshot of an actor the status reads can change it. */
  readonly #lastSnapshot = new WeakMap<object, unknown>();
  readonly #actorLog: Record<StatusActor, Logger>;
  readonly #supervisor: AnyActorRef;
  readonly #storage: () => StorageStatus;
  readonly #notify: (event: ConnectorEvent) => void;

  constructor(options: {
    supervisor: AnyActorRef;
    storage: () => StorageStatus;
    notify: (event: ConnectorEvent) => void;
    logger: Logger;
    deviceId: string;
  }) {
    this.#supervisor = options.supervisor;
    this.#storage = options.storage;
    this.#notify = options.notify;
    // One child logger per actor: every line says which actor it is about.
    this.#actorLog = Object.fromEntries(
      STATUS_ACTORS.map((name) => [name, options.logger.child({ actor: name, device_id: options.deviceId })]),
    ) as Record<StatusActor, Logger>;
    this.#status = readStatus(this.#supervisor, this.#storage());
    this.state$ = new BehaviorSubject(this.#status);
  }

  get status(): ConnectorStatus {
    return this.#status;
  }

  /** An inspection event: a new snapshot of an actor the status reads refreshes it. */
  inspect(event: InspectionEvent): void {
    if (event.type !== '@xstate.snapshot' || !this.#reads(event.actorRef) || this.#lastSnapshot.get(event.actorRef) === event.snapshot)
      return;
    this.#lastSnapshot.set(event.actorRef, event.snapshot);
    this.refresh();
  }

  refresh(): void {
    const next = readStatus(this.#supervisor, this.#storage());
    const changes = diffStatus(this.#status, next);
    if (changes.length === 0) {
      // Details such as rttMs or attempt may still have moved.
      if (JSON.stringify(next) !== JSON.stringify(this.#status)) {
        this.#status = next;
        this.state$.next(next);
      }
      return;
    }
    this.#status = next;
    for (const change of changes) {
      const { actor: name, ...fields } = change;
      // Heartbeats change state every interval: worth a line only when debugging.
      if (name === 'heartbeat') this.#actorLog[name].debug(fields, 'state');
      else this.#actorLog[name].info(fields, 'state');
      this.#notify({ type: 'state', ...change });
    }
    this.state$.next(next);
  }

  #reads(ref: unknown): boolean {
    return ref === this.#supervisor || (STATUS_ACTORS as readonly string[]).includes((ref as { id?: string }).id ?? '');
  }
}
