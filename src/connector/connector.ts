import { BehaviorSubject, filter, firstValueFrom, Subject } from '../util/rx.ts';
import { createActor, type InspectionEvent } from 'xstate';
import { createDeviceTokenActor, tokenTiming } from '../actors/device-token.ts';
import { createSettingsHttpActors } from '../actors/settings-http.ts';
import { createSocketActor } from '../actors/socket.ts';
import { SocketPort } from '../actors/socket-port.ts';
import { createUserLoginActors } from '../actors/user-login.ts';
import { fetchHttpAdapter } from '../adapters/fetch-http.ts';
import { createMemoryStorage } from '../adapters/storage.ts';
import { wsSocketAdapter } from '../adapters/ws-socket.ts';
import type { JobHandler } from '../execution/handlers.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { type AuthMode, authMachine, grantOf } from '../machines/auth.ts';
import { connectionMachine } from '../machines/connection.ts';
import { settingsSyncMachine } from '../machines/settings-sync.ts';
import { randomSeed } from '../util/random.ts';
import { reapOrphans, supervisorMachine } from '../machines/supervisor.ts';
import { createCodec, FrameError } from '../protocol/codec.ts';
import type { Message } from '../protocol/messages.ts';
import { SettingsValues } from '../settings/document.ts';
import type { z } from 'zod';
import { createSecretStore } from '../storage/secret-store.ts';
import { realClock } from '../util/clock.ts';
import { type ConnectorConfigInput, defaultTokenUrl, hubOrigin, parseConnectorConfig } from './config.ts';
import type { Connector, ConnectorEvent, ConnectorOptions } from './connector-types.ts';
import { DeviceChannels } from './channels.ts';
import { createMemoryStore, RemoteWork } from './remote-work.ts';
import { DeviceSettings, validatorOf } from './settings.ts';
import { readStaticSettings } from './static-settings.ts';
import { connectorCredentials } from './api-credentials.ts';
import { trackRuntime } from '../telemetry/runtime-events.ts';
import { createCloudServices } from './cloud-services.ts';
import { CONNECTOR_VERSION } from './version.ts';
import { diffStatus, readStatus, STATUS_ACTORS, type StatusActor } from './status.ts';
import { InspectionStream } from '../inspection/stream.ts';
import { createRedactor } from '../inspection/redact.ts';
import { startSessionRecording } from '../recording/session-recording.ts';
import { createStatelyInspector, type StatelyInspector } from '../inspection/stately.ts';

export type { RuntimeClock } from '../util/clock.ts';

export type { Connector, ConnectorEvent, ConnectorOptions, ExecutionsStatus } from './connector-types.ts';

/**
 * Creates a connector: a supervisor with connection and heartbeat machines, wired to real (or
 * given) adapters. Nothing runs until `start()`.
 *
 * @example
 * import { createConnector, connectorConfigFromEnv } from 'cloudtether';
 *
 * const connector = createConnector(connectorConfigFromEnv());
 * connector.state$.subscribe((s) => console.log(s.connection.state, s.connection.reason));
 * connector.on('message', ({ message }) => console.log('from hub', message.type));
 * connector.start();
 * process.on('SIGTERM', () => void connector.stop());
 *
 * @throws {ConfigError} when `config` is invalid.
 * @throws {SettingsError} when the static settings or the settings defaults fail the settings schema.
 */
export function createConnector<S extends z.ZodType = z.ZodType<SettingsValues>>(config: ConnectorConfigInput, options: ConnectorOptions<S> = {}): Connector<z.output<S>> {
  const cfg = parseConnectorConfig(config);
  const seed = cfg.seed ?? randomSeed();
  // One redactor for everything that leaves through inspection or a recording.
  const redact = createRedactor({
    secretKeys: options.inspection?.secretKeys ?? [],
    secretValues: [cfg.credential, cfg.token].filter((v): v is string => v !== undefined),
  });
  // A recording sits between the connector and its clock, socket and HTTP adapters.
  const recording =
    options.record &&
    startSessionRecording({
      record: options.record,
      library: CONNECTOR_VERSION,
      config: { ...cfg, seed },
      clock: options.clock ?? realClock,
      socket: options.socket ?? wsSocketAdapter,
      http: options.http ?? fetchHttpAdapter,
      redact,
    });
  const clock = recording ? recording.clock : (options.clock ?? realClock);
  const now = () => clock.now();
  const logger = options.logger ?? silentLogger();
  const log = logger.child({ actor: 'connector', device_id: cfg.deviceId, tenant_id: cfg.tenantId });
  // One child logger per actor: every line says which actor it is about.
  const actorLog = Object.fromEntries(
    STATUS_ACTORS.map((name) => [name, logger.child({ actor: name, device_id: cfg.deviceId })]),
  ) as Record<StatusActor, Logger>;
  const codec = createCodec({ maxFrameBytes: cfg.maxFrameBytes, now, receiver: 'device' });

  const port = new SocketPort();
  const socket = createSocketActor({
    adapter: recording ? recording.socket : (options.socket ?? wsSocketAdapter),
    codec,
    port,
    logger: logger.child({ actor: 'socket' }),
  });
  const authMode: AuthMode =
    cfg.url === undefined ? 'none' : cfg.userLogin ? 'user' : cfg.credential !== undefined ? 'device' : 'static';
  const http = recording ? recording.http : (options.http ?? fetchHttpAdapter);
  // Only the mode in use fetches anything; static and standalone keep the machine's defaults.
  const authActors =
    authMode === 'user'
      ? createUserLoginActors({
          http,
          hubOrigin: hubOrigin(cfg.url!),
          clientId: cfg.deviceId,
          secrets: options.secrets ?? createSecretStore(createMemoryStorage()),
        })
      : authMode === 'device'
        ? {
            fetchToken: createDeviceTokenActor({
              http,
              tokenUrl: cfg.tokenUrl ?? defaultTokenUrl(cfg.url!),
              deviceId: cfg.deviceId,
              tenantId: cfg.tenantId,
              credential: cfg.credential!,
            }),
          }
        : {};
  const staticSettings = readStaticSettings(cfg);
  const settingsSchema: z.ZodType = options.settings?.schema ?? SettingsValues;
  const validateSettings = validatorOf(settingsSchema);
  // HTTP requests (settings, the API client) authenticate with whatever token the auth actor holds now.
  const credentials = connectorCredentials({
    grant: () => grantOf(actor.system.get('auth')?.getSnapshot()),
    send: (event) => actor.send(event),
    status$: () => state$,
    clock,
    deviceId: cfg.deviceId,
    tenantId: cfg.tenantId,
    refreshable: authMode === 'device' || authMode === 'user',
  });
  const settingsActors = cfg.url === undefined ? {} : createSettingsHttpActors({ http, origin: hubOrigin(cfg.url), headers: credentials.headers });
  const logic = supervisorMachine.provide({
    actors: {
      auth: authMachine.provide({ actors: authActors }),
      connection: connectionMachine.provide({ actors: { socket } }),
      settings: settingsSyncMachine.provide({ actors: settingsActors }),
    },
  });

  const events = new Subject<ConnectorEvent>();
  const store = options.store ?? createMemoryStore(now);
  const runtime = new RemoteWork({
    deviceId: cfg.deviceId,
    codec,
    clock,
    logger,
    store,
    limits: cfg.executions,
    outboxPolicy: cfg.outbox,
    onResume: ({ status, missed }) => {
      if (status !== 'resumed') log.warn({ status, missed }, 'the hub could not resume delivery: requests were lost');
      events.next({ type: 'resume', status, missed });
    },
    onLoss: (loss) => events.next({ type: 'outbox_loss', ...loss }),
    onExecutionEnded: (ended) => events.next({ type: 'execution_ended', ...ended }),
    onStorage: () => refresh(),
  });
  let started = false;
  let stopping: Promise<void> | undefined;

  // Status is recomputed when any actor in the tree takes a new snapshot.
  // The status reads four actors; only their snapshots can change it, and only when new.
  const lastSnapshot = new WeakMap<object, unknown>();
  // Everything inspected leaves through one sanitised stream: the host's observer never sees a token.
  const inspection = new InspectionStream({
    clock,
    redact,
    onListenerError: (error) => log.error({ err: error }, 'an inspection observer threw'),
  });
  const hostInspect = options.inspect;
  recording?.follow(inspection);
  if (hostInspect) inspection.observe((event) => (typeof hostInspect === 'function' ? hostInspect(event) : hostInspect.next?.(event)));
  const onInspect = (event: InspectionEvent) => {
    if (event.type === '@xstate.snapshot' && started && readsStatus(event.actorRef) && lastSnapshot.get(event.actorRef) !== event.snapshot) {
      lastSnapshot.set(event.actorRef, event.snapshot);
      refresh();
    }
    inspection.inspect(event);
  };

  const actor = createActor(logic, {
    clock,
    inspect: onInspect,
    input: {
      now,
      restartPolicy: cfg.restart,
      channelPolicy: cfg.channels,
      seed: seed ^ 0x27d4eb2f,
      // Static settings never sync: no settings child.
      ...(staticSettings === undefined && {
        settings: { remote: cfg.url !== undefined, policy: cfg.settings, defaults: options.settings?.defaults ?? {}, validate: validateSettings, seed: seed ^ 0x1b873593 },
      }),
      heartbeat: { now },
      auth: {
        mode: authMode,
        ...(cfg.token !== undefined && { staticGrant: { token: cfg.token, expiresAt: cfg.tokenExpiresAt ?? tokenTiming(cfg.token).expiresAt } }),
        policy: cfg.authPolicy,
        seed: seed ^ 0x5bd1e995,
        now,
      },
      connection: {
        url: cfg.url,
        deviceId: cfg.deviceId,
        tenantId: cfg.tenantId,
        ...(cfg.client && { client: cfg.client }),
        policy: cfg.backoff,
        connectTimeoutMs: cfg.connectTimeoutMs,
        closeTimeoutMs: cfg.closeTimeoutMs,
        seed,
        now,
        handshake: () => ({
          resume: runtime.cursor(),
          capacity: runtime.executor.capacity,
          runtime: runtime.describe(CONNECTOR_VERSION, channels.wanted()),
        }),
      },
    },
  });
  const settings = new DeviceSettings<z.output<S>>({
    actor,
    mode: staticSettings !== undefined ? 'static' : cfg.url === undefined ? 'standalone' : 'synced',
    validate: validateSettings,
    defaults: options.settings?.defaults ?? {},
    ...(staticSettings !== undefined && { staticSettings }),
    ...(recording && { onUpdate: (patch) => recording.host('settings.update', patch) }),
    files: store.files ?? createMemoryStorage(),
    logger: logger.child({ actor: 'settings' }),
    notify: (notice) => events.next({ type: 'settings', ...notice }),
  });
  // Annotated: the actor's input reads `channels` (handshake) and `channels` reads the actor, a cycle
  // TypeScript 5 cannot infer through (implicit any on `actor` and everything it touches).
  const channels: DeviceChannels = new DeviceChannels(actor, logger.child({ actor: 'channels' }), (notice) => events.next({ type: 'channel', ...notice }));
  const readsStatus = (ref: unknown) =>
    ref === actor || (STATUS_ACTORS as readonly string[]).includes((ref as { id?: string }).id ?? '');
  let status = readStatus(actor, runtime.storage.status);
  const state$ = new BehaviorSubject(status);

  function refresh(): void {
    const next = readStatus(actor, runtime.storage.status);
    const changes = diffStatus(status, next);
    if (changes.length === 0) {
      // Details such as rttMs or attempt may still have moved.
      if (JSON.stringify(next) !== JSON.stringify(status)) {
        status = next;
        state$.next(next);
      }
      return;
    }
    status = next;
    for (const change of changes) {
      const { actor: name, ...fields } = change;
      // Heartbeats change state every interval: worth a line only when debugging.
      if (name === 'heartbeat') actorLog[name].debug(fields, 'state');
      else actorLog[name].info(fields, 'state');
      events.next({ type: 'state', ...change });
    }
    state$.next(next);
  }

  const onMessage = (message: Message) => {
    void runtime.receive(message);
    events.next({ type: 'message', message });
  };
  actor.on('message', ({ message }) => onMessage(message));
  // The data plane's frames, both ways, skip the machines, for this session only (socket-port.ts).
  actor.on('session.up', ({ session }) => {
    const sendFrame = port.link(onMessage);
    runtime.connected({
      resume: session.resume,
      maxFrameBytes: session.maxFrameBytes,
      sendFrame,
      send: (message) => {
        const encoded = codec.encode(message);
        return encoded.ok && sendFrame(encoded.value.frame);
      },
    });
  });
  actor.on('session.down', () => {
    port.unlink();
    runtime.disconnected();
  });
  actor.on('auth.login_prompt', ({ login }) => events.next({ type: 'login_prompt', ...login }));
  actor.on('auth.logged_out', ({ reason }) => events.next({ type: 'logged_out', reason }));
  actor.on('auth.tenant_changed', ({ tenant }) => events.next({ type: 'tenant_changed', tenant }));
  actor.on('auth.switch_failed', ({ organization, reason }) => events.next({ type: 'switch_failed', organization, reason }));
  const next = <T extends ConnectorEvent['type']>(type: T) =>
    firstValueFrom(events.pipe(filter((e): e is Extract<ConnectorEvent, { type: T }> => e.type === type)));
  const requireUserMode = () => {
    if (authMode !== 'user') throw new Error('login, logout and organizations need userLogin: true');
  };
  actor.on('child.restarted', (e) => {
    log.warn({ child: e.child, error: e.error }, 'child restarted');
    events.next(e);
  });
  actor.on('child.failed', (e) => {
    log.error({ child: e.child, error: e.error }, 'child failed past its restart budget; degraded');
    events.next(e);
  });
  // Without an error observer XState rethrows a supervisor error in a timer and kills the host.
  actor.subscribe({
    error: (error) => {
      log.error({ err: error }, 'supervisor stopped on an error');
      refresh();
    },
  });

  const { api, telemetry, telemetryLog } = createCloudServices({ cfg, http, credentials, clock, logger, store, seed });
  let stopRuntimeEvents: () => void = () => {};
  let stately: StatelyInspector | undefined;
  const connector: Connector<z.output<S>> = {
    actor,
    settings,
    api,
    telemetry,
    inspection,
    handle(jobType, name, handler) {
      runtime.handlers.register(jobType, name, handler as JobHandler);
    },
    channel(name, options) {
      return channels.join(name, options);
    },
    onMessaging(workspaceId, handler) {
      runtime.messaging.handle(workspaceId, handler);
    },
    onCapabilityReload(hook) {
      runtime.reloadHook = hook;
    },
    get executions() {
      return { capacity: runtime.executor.capacity, active: runtime.executor.active, outboxDepth: runtime.outbox.depth, waitingForStorage: runtime.outbox.waiting };
    },
    get status() {
      return status;
    },
    get state$() {
      return state$.asObservable();
    },
    get events$() {
      return events.asObservable();
    },
    start() {
      if (started) return;
      started = true;
      // Origin and path only: a query string may carry a secret.
      const where = cfg.url === undefined ? null : `${new URL(cfg.url).origin}${new URL(cfg.url).pathname}`;
      log.info({ url: where, standalone: cfg.url === undefined }, 'starting');
      recording?.host('start');
      if (options.stately) {
        const inspector = createStatelyInspector(options.stately);
        inspection.observe((event) => inspector.inspect(event));
        stately = inspector;
      }
      // What a crash left running ends now, with the host listening (inbound delivery logs a failure).
      runtime.recover().catch(() => undefined);
      actor.start();
      actor.send({ type: 'connect' });
      void settings.load();
      telemetry.start();
      stopRuntimeEvents = trackRuntime({ telemetry, events$: events, status: () => status, executions: () => connector.executions, clock, metricsIntervalMs: cfg.telemetry.metricsIntervalMs });
      refresh();
    },
    async stop() {
      if (!started) return;
      if (!stopping) recording?.host('stop');
      stopping ??= (async () => {
        if (actor.getSnapshot().status === 'active') {
          actor.send({ type: 'disconnect' });
          refresh();
          await firstValueFrom(state$.pipe(filter((s) => s.connection.state === 'closed' || s.connection.state === 'stopped')));
        } else {
          // A supervisor that died on an error takes no events, and XState leaves its children running.
          reapOrphans(actor);
        }
        actor.stop();
        refresh();
        stately?.stop();
        await settings.stop();
        stopRuntimeEvents();
        await telemetry.stop();
        await telemetryLog.close().catch((error: unknown) => log.error({ err: error }, 'cannot close the telemetry queue'));
        await runtime.stop().catch((error: unknown) => log.error({ err: error }, 'cannot close the store'));
        await recording?.end().catch((error: unknown) => log.error({ err: error }, 'cannot close the session recording'));
        log.info('stopped');
        state$.complete();
        events.complete();
      })();
      return stopping;
    },
    send(message) {
      recording?.host('send', message);
      const encoded = codec.encode(message);
      if (!encoded.ok) throw encoded.error;
      if (status.connection.state !== 'connected') return false;
      // The hub may accept less than we do; a frame over its limit would cost the whole session.
      const limit = status.connection.maxFrameBytes ?? cfg.maxFrameBytes;
      const { bytes } = encoded.value;
      if (bytes > limit) {
        throw new FrameError('too_large', `${message.type} of ${bytes} bytes exceeds the hub's limit of ${limit}`, {
          bytes,
          type: message.type,
          messageId: encoded.value.message.id,
        });
      }
      actor.send({ type: 'send_frame', frame: encoded.value.frame });
      return true;
    },
    on(type, listener) {
      const subscription = events
        .pipe(filter((e): e is Extract<ConnectorEvent, { type: typeof type }> => e.type === type))
        .subscribe((event) => {
          // RxJS rethrows a subscriber's error in a timer, which would kill the host: log it instead.
          try {
            listener(event);
          } catch (error) {
            log.error({ err: error, event: type }, 'event listener threw');
          }
        });
      return () => subscription.unsubscribe();
    },
    waitFor(predicate) {
      return firstValueFrom(state$.pipe(filter(predicate)));
    },
    async login() {
      requireUserMode();
      const prompt = next('login_prompt');
      actor.send({ type: 'login' });
      return prompt;
    },
    async logout() {
      requireUserMode();
      const done = next('logged_out');
      actor.send({ type: 'logout' });
      if (status.auth.state === 'logged_out') return;
      await done;
    },
    async switchOrganization(organization) {
      requireUserMode();
      const outcome = firstValueFrom(
        events.pipe(
          filter(
            (e): e is Extract<ConnectorEvent, { type: 'tenant_changed' | 'switch_failed' }> =>
              (e.type === 'tenant_changed' && e.tenant === organization) || (e.type === 'switch_failed' && e.organization === organization),
          ),
        ),
      );
      actor.send({ type: 'switch_organization', organization });
      const result = await outcome;
      if (result.type === 'switch_failed') throw new Error(`cannot switch to ${organization}: ${result.reason}`);
    },
  };
  return connector;
}
