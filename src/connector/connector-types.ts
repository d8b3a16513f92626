import type { Observable } from 'rxjs';
import type { Actor, InspectionEvent, Observer } from 'xstate';
import type { z } from 'zod';
import type { HttpAdapter } from '../adapters/http.ts';
import type { SocketAdapter } from '../adapters/socket.ts';
import type { HandledJobType, JobHandler } from '../execution/handlers.ts';
import type { Logger } from '../log/logger.ts';
import type { supervisorMachine } from '../machines/supervisor.ts';
import type { Outbound } from '../protocol/messages.ts';
import type { SecretStore } from '../storage/secret-store.ts';
import type { RuntimeClock } from '../util/clock.ts';
import type { ChannelHandle } from './channels.ts';
import type { ConnectorStore } from './remote-work.ts';
import type { MessagingHandler } from '../messaging/router.ts';
import type { ConnectorEvent } from '../status/connector-event.ts';
import type { ConnectorStatus, ExecutionsStatus } from '../status/connector-status.ts';

export type { ConnectorEvent } from '../status/connector-event.ts';
export type { ExecutionsStatus } from '../status/connector-status.ts';
import type { SettingsHandle } from './settings.ts';
import type { ApiClient } from '../api/client.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import type { InspectionStream } from '../inspection-events/stream.ts';
import type { StatelyInspectorOptions } from '../inspection-events/stately.ts';
import type { RecordOptions } from '../recording/recorder.ts';
import type { SettingsValues } from '../protocol/settings-document.ts';

export interface ConnectorOptions<S extends z.ZodType = z.ZodType<SettingsValues>> {
  /** Socket adapter; default the real one on `ws`. Tests pass `createMemoryNetwork().adapter`. */
  socket?: SocketAdapter;
  /** HTTP adapter for the token endpoint; default the real one on `fetch`. */
  http?: HttpAdapter;
  /**
   * Where a user login keeps its refresh token (`createSecretStore` over `createFileStorage`
   * for one that survives restarts). Default: in memory, so every start needs a new login.
   */
  secrets?: SecretStore;
  /** Clock for every timer of every machine; default the real one. Tests pass `SimulatedClock`. */
  clock?: RuntimeClock;
  /** pino logger; each actor logs through a child (`{ actor: 'connection' }`). Default silent. */
  logger?: Logger;
  /**
   * Receives every inspection event of the actor system, sanitised: snapshots, contexts and events
   * are redacted copies and actor references are read-only stand-ins (docs/inspector.md).
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /**
   * Sends the sanitised inspection stream to Stately's inspector (`@statelyai/inspect`) from
   * `start()` until `stop()` (docs/inspector.md). Its UI is the hosted stately.ai app; the
   * built-in inspector (`startInspector`) works offline.
   */
  stately?: StatelyInspectorOptions;
  /**
   * Records the session to a JSON Lines file (docs/recording.md): frames, HTTP exchanges, timers,
   * host calls and transitions, redacted; closed on `stop()`. `replaySession(file)` plays it back.
   */
  record?: RecordOptions;
  /** What inspection and recordings redact besides tokens and credentials: more secret field names. */
  inspection?: { secretKeys?: string[] };
  /**
   * The outbox and the journal of executions (`openConnectorStore(dir)` for ones that survive a
   * crash). Default: in memory. The connector closes it on `stop()`.
   */
  store?: ConnectorStore;
  /**
   * The host's settings: the schema of the effective settings (a document that fails it is
   * refused whole) and local defaults under the hub's documents. Default: any JSON object, no
   * defaults. See docs/embedding.md, "Settings".
   */
  settings?: { schema?: S; defaults?: SettingsValues };
}

/** A running connector; see {@link createConnector}. `T` is the type of its effective settings. */
export interface Connector<T = SettingsValues> {
  /** Starts the supervisor and asks for a connection (standalone without a URL). Idempotent. */
  start(): void;
  /** Closes the connection gracefully and stops every actor. Resolves when all is closed. Idempotent. */
  stop(): Promise<void>;
  /**
   * Sends a message to the hub. Returns false when not connected (nothing is queued yet).
   * @throws {FrameError} when the message is invalid, or larger than this connector's
   * `maxFrameBytes` or the hub's announced limit (`status.connection.maxFrameBytes`).
   */
  send(message: Outbound): boolean;
  /** The current status. */
  readonly status: ConnectorStatus;
  /** The status now and on every change. Completes on `stop()`. */
  readonly state$: Observable<ConnectorStatus>;
  /** State changes, inbound messages, child restarts and failures. Completes on `stop()`. */
  readonly events$: Observable<ConnectorEvent>;
  /**
   * Subscribes to one kind of event; returns the unsubscribe function. A listener that throws is
   * logged and does not disturb the connector or other listeners (`events$` subscribers get plain
   * RxJS semantics instead).
   */
  on<T extends ConnectorEvent['type']>(type: T, listener: (event: Extract<ConnectorEvent, { type: T }>) => void): () => void;
  /** Resolves with the first status that satisfies `predicate` (at once if the current one does). */
  waitFor(predicate: (status: ConnectorStatus) => boolean): Promise<ConnectorStatus>;
  /**
   * User mode: starts a login (OAuth device authorization grant) and resolves with what to show
   * the user. The login completes when they approve it: `status.auth.state` becomes `valid`.
   */
  login(): Promise<Extract<ConnectorEvent, { type: 'login_prompt' }>>;
  /** User mode: revokes the session at the hub, forgets it here, and drops the connection. */
  logout(): Promise<void>;
  /** User mode: re-scopes the session to another organization and reconnects there. */
  switchOrganization(organization: string): Promise<void>;
  /**
   * Registers the handler of a tool or playbook (chains run their steps' handlers). Requests for
   * it are validated against `handler.input`, run under the concurrency limit, and reported back
   * as execution events and one usage report.
   *
   * @throws {TypeError} for a handler without a zod `input` schema or a `run` function.
   *
   * @example
   * connector.handle('tool', 'echo', { input: z.object({ text: z.string() }), run: ({ text }) => ({ text }) });
   */
  handle<S extends z.ZodType>(jobType: HandledJobType, name: string, handler: JobHandler<S>): void;
  /** What is running and queued, and the outbox depth. */
  readonly executions: ExecutionsStatus;
  /**
   * Joins a channel (`extension` or `task:<id>`), and rejoins it after every reconnect until
   * `leave()`. Joining a joined channel returns another handle on the same one. With
   * `reliable: true`, every send through the handle is reliable (stored, resent until the hub
   * acknowledges it: {@link ChannelHandle.send}).
   */
  channel(name: string, options?: { workspaceId?: string; reliable?: boolean }): ChannelHandle;
  /**
   * Answers chat messages (`messaging_event`) of a workspace; `*` answers every workspace without
   * its own handler. The answer goes back as `messaging_reply` through the outbox.
   */
  onMessaging(workspaceId: string, handler: MessagingHandler): void;
  /** Called when the hub says new capability packs were deployed; throw to report a failure. */
  onCapabilityReload(hook: (packs: string[]) => unknown): void;
  /**
   * The effective settings (typed by the `settings.schema` option), their changes, feature flags
   * and edits of the user's settings. Synced with the hub, cached on disk with the store.
   */
  readonly settings: SettingsHandle<T>;
  /**
   * The hub's REST API (docs/api.md), authenticated as this connector: whoami, API keys, usage,
   * shares. Rate-limited client-side; a 401 refreshes the token once; idempotent requests retry.
   */
  readonly api: ApiClient;
  /**
   * Telemetry: off until the host or user consents (`setConsent(true)`, or config
   * `telemetry.enabled`); `CLOUDTETHER_TELEMETRY=off` or `DO_NOT_TRACK=1` force it off.
   * `track(event, properties)` queues an event (properties redacted) for the hub.
   */
  readonly telemetry: Telemetry;
  /**
   * The sanitised inspection stream of the whole actor tree: live actors, their states and
   * transitions. The built-in inspector (`startInspector`) and the recorder read it.
   */
  readonly inspection: InspectionStream;
  /** The supervisor actor, for inspection and advanced use. */
  readonly actor: Actor<typeof supervisorMachine>;
}
