import { filter, firstValueFrom, Subject } from '../util/rx.ts';
import { createActor, type InspectionEvent } from 'xstate';
import { createSocketActor } from '../actors/socket.ts';
import { SocketPort } from '../actors/socket-port.ts';
import { createMemoryStorage } from '../adapters/storage.ts';
import type { JobHandler } from '../execution/handlers.ts';
import { silentLogger } from '../log/logger.ts';
import { grantOf } from '../machines/auth.ts';
import { createCodec } from '../protocol/codec.ts';
import { randomUuid } from '../util/random-uuid.ts';
import { SettingsValues } from '../protocol/settings-document.ts';
import type { z } from 'zod';
import { randomSeed } from '../util/random.ts';
import { type ConnectorConfigInput, parseConnectorConfig } from './config.ts';
import type { Connector, ConnectorEvent, ConnectorOptions } from './connector-types.ts';
import { DeviceChannels } from './channels.ts';
import { createMemoryRecordLog } from '../storage/record-log.ts';
import { createMemoryStore } from './remote-work.ts';
import { DeviceSettings, validatorOf } from './settings.ts';
import { readStaticSettings } from './static-settings.ts';
import { connectorCredentials } from './api-credentials.ts';
import { createCloudServices } from './cloud-services.ts';
import { CONNECTOR_VERSION } from './version.ts';
import { DataPlane } from './data-plane.ts';
import { authModeOf, supervisorInputOf } from './machine-input.ts';
import { connectorLogic } from './machine-logic.ts';
import { StatusFeed } from './status-feed.ts';
import { forwardSupervisorEvents, listen, userSession } from './host-events.ts';
import { hostSender } from './host-send.ts';
import { hostCallRecorder, hostFacing } from './host-recording.ts';
import { ConnectorLifecycle } from './lifecycle.ts';
import { observeConnector } from './observation.ts';

export type { RuntimeClock } from '../util/clock.ts';
export type { Connector, ConnectorEvent, ConnectorOptions, ExecutionsStatus } from './connector-types.ts';

/**
 * Creates a connector: a supervisor with its five child machines (auth, connection, heartbeat,
 * a channel machine per joined channel, settings-sync), the data plane (inbound delivery, the
 * executor, messaging, the outbox; src/connector/data-plane.ts) and the cloud services (API
 * client, telemetry), wired to real (or given) adapters. Nothing runs until `start()`.
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
export function createConnector<S extends z.ZodType = z.ZodType<SettingsValues>>(
  config: ConnectorConfigInput,
  options: ConnectorOptions<S> = {},
): Connector<z.output<S>> {
  const cfg = parseConnectorConfig(config);
  const seed = cfg.seed ?? randomSeed();
  const logger = options.logger ?? silentLogger();
  const log = logger.child({ actor: 'connector', device_id: cfg.deviceId, tenant_id: cfg.tenantId });
  const { recording, inspection, clock, socket: socketAdapter, http, network } = observeConnector(cfg, seed, options, log);
  const now = () => clock.now();
  const codec = createCodec({ maxFrameBytes: cfg.maxFrameBytes, now, receiver: 'device', newId: randomUuid });
  const events = new Subject<ConnectorEvent>();
  const notify = (event: ConnectorEvent) => events.next(event);

  const staticSettings = readStaticSettings(cfg);
  const validateSettings = validatorOf(options.settings?.schema ?? SettingsValues);
  const settingsDefaults = options.settings?.defaults ?? {};
  const port = new SocketPort();
  const store = options.store ?? createMemoryStore(now);
  const plane = new DataPlane({
    port,
    codec,
    clock,
    logger,
    log,
    store,
    deviceId: cfg.deviceId,
    limits: cfg.executions,
    outboxPolicy: cfg.outbox,
    notify,
    onStorage: () => feed.refresh(),
  });
  const runtime = plane.work;
  const authMode = authModeOf(cfg);
  // HTTP requests (settings, the API client) authenticate with whatever token the auth actor holds now.
  const credentials = connectorCredentials({
    grant: () => grantOf(actor.system.get('auth')?.getSnapshot()),
    send: (event) => actor.send(event),
    status$: () => feed.state$,
    clock,
    deviceId: cfg.deviceId,
    tenantId: cfg.tenantId,
    refreshable: authMode === 'device' || authMode === 'user',
  });
  const socket = createSocketActor({ adapter: socketAdapter, codec, port, logger: logger.child({ actor: 'socket' }) });
  const logic = connectorLogic({ cfg, authMode, http, secrets: options.secrets, credentials, socket });

  // Inspection starts with the actor's creation, before the lifecycle exists to say it started.
  let started = (): boolean => false;
  const onInspect = (event: InspectionEvent) => {
    if (started()) feed.inspect(event);
    inspection.inspect(event);
  };

  const input = supervisorInputOf(cfg, seed, {
    now,
    handshake: () => ({ ...plane.handshake(CONNECTOR_VERSION, channels.wanted()), ...channels.handshake() }),
    // Static settings never sync: no settings child.
    settings: staticSettings === undefined ? { defaults: settingsDefaults, validate: validateSettings } : undefined,
  });
  const actor = createActor(logic, { clock, inspect: onInspect, input });
  const settings = new DeviceSettings<z.output<S>>({
    actor,
    mode: staticSettings !== undefined ? 'static' : cfg.url === undefined ? 'standalone' : 'synced',
    validate: validateSettings,
    defaults: settingsDefaults,
    ...(staticSettings !== undefined && { staticSettings }),
    files: store.files ?? createMemoryStorage(),
    logger: logger.child({ actor: 'settings' }),
    notify: (notice) => notify({ type: 'settings', ...notice }),
  });
  // Annotated: the actor's input reads `channels` (handshake) and `channels` reads the actor, a cycle
  // TypeScript cannot infer through (implicit any on `actor` and everything it touches).
  const channels: DeviceChannels = new DeviceChannels(
    actor,
    logger.child({ actor: 'channels' }),
    (notice) => notify({ type: 'channel', ...notice }),
    { log: store.channels ?? createMemoryRecordLog({ now }), now, clock, health: runtime.storage, policy: cfg.reliableChannels },
  );
  const feed: StatusFeed = new StatusFeed({
    supervisor: actor,
    storage: () => runtime.storage.status,
    notify,
    logger,
    deviceId: cfg.deviceId,
  });
  plane.attach(actor);
  forwardSupervisorEvents(actor, notify, log, () => feed.refresh());

  const { api, telemetry, telemetryLog } = createCloudServices({ cfg, http, credentials, clock, logger, store, seed });
  const lifecycle = new ConnectorLifecycle({
    ...{ cfg, actor, feed, settings, runtime, telemetry, recording, network, inspection, clock, log, events },
    logs: [
      { what: 'telemetry queue', close: () => telemetryLog.close() },
      {
        what: 'channel messages log',
        close: async () => {
          channels.stop();
          await store.channels?.close();
        },
      },
    ],
    stately: options.stately,
    executions: () => plane.executions,
  });
  started = () => lifecycle.started;
  // A recording keeps every host call made until stop(), the host's setup before start() too (docs/recording.md).
  const hostCalls = recording && hostCallRecorder(recording, () => !lifecycle.stopping);
  const session = userSession(actor, events, () => feed.status, authMode);
  const channel: Connector['channel'] = (name, channelOptions) => channels.join(name, channelOptions);
  const connector: Connector<z.output<S>> = {
    actor,
    inspection,
    ...hostFacing({ api, telemetry, channel, settings, ...session }, hostCalls),
    handle: (jobType, name, handler) => runtime.handlers.register(jobType, name, handler as JobHandler),
    onMessaging: (workspaceId, handler) => runtime.messaging.handle(workspaceId, handler),
    onCapabilityReload(hook) {
      runtime.reloadHook = hook;
    },
    get executions() {
      return plane.executions;
    },
    get status() {
      return feed.status;
    },
    get state$() {
      return feed.state$.asObservable();
    },
    get events$() {
      return events.asObservable();
    },
    start: () => lifecycle.start(),
    stop: () => lifecycle.stop(),
    send: hostSender({
      actor,
      codec,
      status: () => feed.status,
      maxFrameBytes: cfg.maxFrameBytes,
      ...(recording && { record: (message) => recording.host('send', message) }),
    }),
    on: listen(events, log),
    waitFor: (predicate) => firstValueFrom(feed.state$.pipe(filter(predicate))),
  };
  return connector;
}
