import { EventEmitter } from 'node:events';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from '../log/logger.ts';
import { createCodec } from '../protocol/index.ts';
import { newMessageId } from '../protocol/message-ids.ts';
import { isLoopbackHost } from '../http/client-address.ts';
import { OperatorAccess } from './admin/operator-access.ts';
import { HubApi } from './api/hub-api.ts';
import { HubAuth } from './auth/auth.ts';
import type { IssuedToken } from './auth/token-authority.ts';
import { HubChannels, type HubChannelsOptions, type ExtensionInstance } from './channels/channels.ts';
import { HubError } from './core/errors.ts';
import type { DeviceMessage, HubEvents, SessionInfo } from './core/events.ts';
import { type HubOptions, resolveHubOptions } from './core/options.ts';
import { CapabilityReloads, type ReloadResult } from './delivery/capability-reloads.ts';
import { UnheldExpiry } from './delivery/unheld-expiry.ts';
import { type ExecutionRequestInput, HubDelivery, type MessagingEventInput, type MessagingResult } from './delivery/delivery.ts';
import { dispatch, type DispatchMessage } from './delivery/dispatch.ts';
import type { ExecutionHandle, ExecutionSnapshot } from './delivery/executions.ts';
import { createEngine } from './engine/create-engine.ts';
import type { ClusterNote } from './engine/cluster.ts';
import type { HubEngine } from './engine/hub-engine.ts';
import { createFaultHooks, type HubFaults } from './faults.ts';
import { clusterNotes } from './cluster-notes.ts';
import { createHubRoutes } from './hub-routes.ts';
import { createSessionHost } from './hub-session-host.ts';
import { type HubAddress, type HubListenOptions, Listener } from './server/listener.ts';
import { OpenSessions } from './session/open-sessions.ts';
import { SettingsSessions } from './settings/settings-sessions.ts';
import { HubSettings } from './settings/settings.ts';
import { FailureThrottle } from './throttle/failure-throttle.ts';
import { LedgerSlot } from './usage/usage-ledger.ts';
import type { UsageSummary } from './usage/usage-store.ts';

/**
 * The reference hub: a `node:http` server with the device WebSocket endpoint on
 * `/v1/connect` and JSON admin routes beside it; with the `tokens` option, also the device
 * token endpoint (`POST /v1/device-token`), its public keys (`/.well-known/jwks.json`), and
 * user login on devices (`/v1/oauth/*`: the device authorization grant, refresh tokens,
 * revocation; `GET /v1/me`). Create one with {@link createHub}.
 */
export class Hub extends EventEmitter<HubEvents> {
  readonly faults: HubFaults;
  /**
   * Settings sync: organization and user documents, pushed to subscribed devices ({@link HubSettings}).
   * @example
   * await hub.settings.patchOrg('acme', { theme: 'dark' }); // pushed as settings_patch to acme's devices
   */
  readonly settings: HubSettings;
  /**
   * The REST API's API keys, share links and telemetry of each tenant ({@link HubApi}, docs/api.md).
   * @example
   * const { secret } = hub.api.createApiKey('acme', { name: 'ci', permissions: ['usage:read'] });
   */
  readonly api: HubApi;

  readonly #log: Logger;
  readonly #sessions = new OpenSessions();
  /** Credentials, tokens, user logins and revocations. */
  readonly #auth: HubAuth;
  readonly #listener: Listener;
  readonly #delivery: HubDelivery;
  /** Several nodes: expires the work of devices no node holds, while this node has the lease. */
  readonly #unheldExpiry: UnheldExpiry | undefined;
  readonly #channels: HubChannels;
  readonly #reloads: CapabilityReloads;
  readonly #ledger: LedgerSlot;
  readonly #settings: SettingsSessions;
  readonly #access: OperatorAccess;
  /** Where the state that can outlive the process is kept (`HubOptions.engine`). */
  readonly #engine: HubEngine;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Whether settings changes are told to the other nodes (once the store is open). */
  #settingsShared = false;
  /** This node's name among the hub nodes on one store (`HubOptions.nodeId`). */
  readonly nodeId: string;

  constructor(options: HubOptions) {
    super();
    const resolved = resolveHubOptions(options);
    const engine = createEngine(resolved);
    this.#engine = engine;
    this.nodeId = resolved.nodeId;
    this.#reloads = new CapabilityReloads(resolved.clock);
    // No bindings of our own: the caller names the component (`logger.child({ component: 'hub' })`),
    // and a key bound by both would be written twice on every line.
    this.#log = resolved.logger;
    const sessions = this.#sessions;
    const { maxRecords, ...policy } = resolved.throttle;
    const throttle = new FailureThrottle({
      store: engine.attemptStore('failures', maxRecords),
      familiar: engine.attemptStore('familiar', maxRecords),
      policy,
      now: () => resolved.clock.now(),
      logger: this.#log,
    });
    const access = new OperatorAccess({ adminToken: resolved.adminToken, throttle, logger: this.#log });
    this.#access = access;
    // The OAuth routes go through the public methods, so they behave (and log) as a call on the hub.
    const auth = new HubAuth({
      options: resolved,
      sessions,
      throttle,
      access,
      approve: (userCode, approval) => this.approveDeviceLogin(userCode, approval),
      deny: (userCode) => this.denyDeviceLogin(userCode),
      revokeAccessToken: (jti) => void this.revokeToken(jti),
      loginRevoked: (jtis) => {
        for (const jti of jtis) engine.cluster?.broadcast({ t: 'revoke_token', jti });
      },
      fallbackHost: () => this.#listener.hostPort(),
      stores: {
        revocations: (now, forgetAfterMs) => engine.revocations(now, forgetAfterMs),
        signingKeys: (keys) => engine.signingKeys(keys),
        logins: engine.logins,
      },
    });
    this.#auth = auth;
    const { faults, isSilenced } = createFaultHooks(sessions, auth.gate, () => {
      engine.crash?.();
      void this.#unheldExpiry?.stop(false);
      this.#delivery.close();
      this.#listener.crash();
    });
    this.faults = faults;
    // Called through the clock object: an injected clock may be a class instance.
    // Its message ids are a prefix and a counter: a UUID per frame was a share of each frame's cost.
    const codec = createCodec({
      maxFrameBytes: resolved.maxFrameBytes,
      now: () => resolved.clock.now(),
      receiver: 'hub',
      newId: newMessageId,
    });
    this.#ledger = new LedgerSlot(() => engine.openUsage());
    this.#settings = new SettingsSessions(
      () => engine.openSettings(),
      this.#log,
      () => resolved.clock.now(),
    );
    this.settings = new HubSettings(this.#settings);
    this.api = new HubApi(resolved.clock, this.#log, engine.apiKeys, {
      rateBuckets: engine.rateBuckets(resolved.apiRateLimit, () => resolved.clock.now()),
      shares: engine.shares,
      telemetry: engine.telemetry,
    });
    const delivery = new HubDelivery({
      sessions,
      codec,
      clock: resolved.clock,
      logger: this.#log,
      options: resolved.delivery,
      queues: engine.deviceQueues,
      cluster: engine.cluster,
      ledger: () => this.#ledger.current,
      emitMessage: (info, message) => this.#emitMessage(info, message),
    });
    this.#delivery = delivery;
    const unheldWork = engine.unheldWork;
    this.#unheldExpiry =
      unheldWork &&
      new UnheldExpiry({
        work: unheldWork,
        node: resolved.nodeId,
        clock: resolved.clock,
        logger: this.#log,
        resumeWindowMs: resolved.delivery.resumeWindowMs,
        expired: (work) => delivery.expiredUnheld(work),
      });
    const emitChannelMessage: HubChannelsOptions['onMessage'] = (info, message) => this.#emitSafely('channel_message', info, message);
    const channels = new HubChannels({
      channels: resolved.channels,
      codec,
      clock: resolved.clock,
      logger: this.#log,
      onMessage: emitChannelMessage,
      dedupe: engine.channelDedupe,
      history: engine.channelHistory,
    });
    this.#channels = channels;
    const cluster = engine.cluster;
    cluster?.listen(
      clusterNotes({
        ...{ sessions, delivery, auth, channels, reloads: this.#reloads, settings: this.#settings, cluster, logger: this.#log },
        apiKeys: engine.apiKeys,
        usage: () => this.#ledger.current,
      }),
    );
    const host = createSessionHost({
      options: resolved,
      codec,
      logger: this.#log,
      isSilenced,
      auth,
      sessions,
      delivery,
      channels,
      reloads: this.#reloads,
      settings: this.#settings,
      emit: (event, ...args) => this.#emitSafely(event, ...args),
    });
    const listening = { accepting: () => this.#listener.accepting, hostPort: () => this.#listener.hostPort() };
    const routes = createHubRoutes({
      options: resolved,
      auth,
      access,
      throttle,
      delivery,
      settings: this.settings,
      api: this.api,
      channels,
      sessions,
      host,
      hub: this,
      ...listening,
    });
    this.#listener = new Listener({
      ...(options.tls && { tls: options.tls }),
      clock: resolved.clock,
      timeouts: { headersMs: resolved.headersTimeoutMs, requestMs: resolved.requestTimeoutMs },
      logger: this.#log,
      request: routes.request,
      upgrade: routes.upgrade,
      closeSessions: (code, reason) => sessions.closeAll(code, reason),
      abandonHeld: () => auth.gate?.abandon(),
      closed: () => routes.close(),
    });
  }

  /**
   * Starts listening. Resolves with the device endpoint's URL. Without an `adminToken` the
   * operator routes answer loopback clients only; listening on a host beyond loopback is then
   * logged as a warning, not refused: an embedder may have a front of its own that checks
   * operators (the CLI hub refuses it).
   *
   * @example
   * const { url } = await hub.listen({ port: 0 }); // 'ws://127.0.0.1:40123/v1/connect' (wss:// with `tls`)
   */
  async listen({ port = 0, host = '127.0.0.1' }: HubListenOptions = {}): Promise<HubAddress> {
    // The engine's state, the ledger and the settings are read back before the first device can reach them.
    this.#opening ??= this.#engine.open().then(() => {
      this.#delivery.restored();
      return this.#channels.restore();
    });
    await this.#opening;
    await Promise.all([this.#ledger.open(), this.#settings.open()]);
    this.#unheldExpiry?.start();
    const cluster = this.#engine.cluster;
    // Several nodes: a change stored here is pushed by every node to the devices it holds.
    if (cluster && !this.#settingsShared) {
      this.#settingsShared = true;
      const store = this.#settings.store;
      store.listeners.add((tenantId, key, _document, changes) => {
        const stored = store.stored(tenantId, key);
        if (stored) cluster.broadcast({ t: 'settings', tenant_id: tenantId, key, document: stored, changes });
      });
    }
    const address = await this.#listener.listen(port, host);
    if (!this.#access.hasToken && !isLoopbackHost(host)) {
      this.#log.warn(
        { host },
        'listening beyond loopback without an admin token: operator routes answer loopback clients only, and a reverse proxy on this machine is one',
      );
    }
    return address;
  }

  /**
   * Runs a tool, a playbook or a chain on a device: queued at the hub until the device is
   * connected and has room, delivered reliably (resent on reconnect, run once), and followed to
   * its one terminal event. A device that is offline needs `tenantId`. Requests that wait longer
   * than `delivery.resumeWindowMs` end `undelivered`.
   *
   * @throws {HubError} `tenant_required`, `ambiguous_device`, `duplicate_request`, `queue_full` or `invalid_message`.
   * @example
   * const run = hub.execute('laptop-1', { job_type: 'tool', tool_name: 'web_search', inputs: { query: 'pricing' } }, { tenantId: 'acme' });
   * run.events.subscribe((event) => console.log(event.event_type, event.data));
   * const { status, data } = await run.result; // 'completed', { result: …, duration_ms: 1834 }
   */
  execute(deviceId: string, request: ExecutionRequestInput, options: { tenantId?: string } = {}): ExecutionHandle {
    return this.#delivery.execute(deviceId, request, options.tenantId);
  }

  /**
   * Sends a chat message (LINE, WhatsApp, …) to the device's messaging handler, reliably, and
   * resolves with its reply (also `POST /v1/devices/{id}/messages`).
   *
   * @throws {HubError} `tenant_required`, `ambiguous_device`, `duplicate_request`, `queue_full` or `invalid_message`.
   * @example
   * const { reply } = hub.sendMessagingEvent('laptop-1', {
   *   channel: 'line', event_type: 'message', message: { text: 'hello' }, user_id: 'U1', workspace_id: 'ws-1',
   * }, { tenantId: 'acme' });
   * (await reply).text; // the agent's answer
   */
  sendMessagingEvent(
    deviceId: string,
    event: MessagingEventInput,
    options: { tenantId?: string } = {},
  ): { requestId: string; reply: Promise<MessagingResult> } {
    return this.#delivery.message(deviceId, event, options.tenantId);
  }

  /**
   * Opens a task channel in a tenant (optionally a workspace): devices of that tenant (and
   * workspace) may join `task:<taskId>`; others are refused `unauthorized`.
   *
   * @example
   * hub.openTask('acme', 'tsk_42', { workspaceId: 'ws-marketing' });
   */
  openTask(tenantId: string, taskId: string, { workspaceId }: { workspaceId?: string } = {}): void {
    this.#channels.openTask(tenantId, taskId, workspaceId);
    const note = {
      t: 'task',
      tenant_id: tenantId,
      task_id: taskId,
      open: true,
      ...(workspaceId !== undefined && { workspace_id: workspaceId }),
    };
    this.#engine.cluster?.broadcast(note as ClusterNote);
  }

  /**
   * Sends a message on a channel to every device of the tenant that joined it, and keeps it in
   * the channel's replay window for devices that rejoin. Resolves with its offset. On Redis the
   * offset is taken in Redis, so any number of nodes may publish to one channel at once: each
   * message gets one offset, and the members on every node get the messages in offset order; it
   * resolves once Redis keeps the message, and rejects when Redis refused it (it then reached no
   * one). On the memory engine the members are sent it before this returns.
   *
   * @throws {HubError} `invalid_message` (thrown, not a rejection) when it would not encode.
   * @example
   * await hub.publish('acme', 'task:tsk_42', 'approve', { step_id: 'stp_7' }); // 1
   * await hub.publish('acme', 'extension', 'start_task', { instance_id: 'vscode-1', task_id: 'tsk_42' });
   */
  publish(tenantId: string, channel: string, event: string, payload: Record<string, unknown> = {}): Promise<number> {
    return this.#channels.publish(tenantId, channel, event, payload);
  }

  /**
   * The extension instances of a tenant that registered and were heard from within the instance
   * TTL (60 s by default).
   *
   * @example
   * hub.instances('acme'); // [{ instance_id: 'vscode-1', app: { name: 'vscode', version: '1.96' }, device_id: 'laptop-1', … }]
   */
  instances(tenantId: string): ExtensionInstance[] {
    return this.#channels.instances(tenantId);
  }

  /** Closes a task channel: members get `channel_left`, joins are refused, its replay window goes. */
  closeTask(tenantId: string, taskId: string): void {
    this.#channels.closeTask(tenantId, taskId);
    this.#engine.cluster?.broadcast({ t: 'task', tenant_id: tenantId, task_id: taskId, open: false });
  }

  /** Device ids joined to a channel of a tenant. */
  channelMembers(tenantId: string, channel: string): string[] {
    return this.#channels.members(tenantId, channel);
  }

  /**
   * Tells a connected device that new capability packs were deployed; resolves with its result.
   *
   * @throws {HubError} `not_connected` or `ambiguous_device`.
   * @example
   * const { ok, error } = await hub.reloadCapabilities('laptop-1', ['marketing-pack@2.3.0']);
   */
  reloadCapabilities(deviceId: string, packs: string[] = [], { tenantId }: { tenantId?: string } = {}): Promise<ReloadResult> {
    const cluster = this.#engine.cluster;
    const send = (reloadId: string) =>
      dispatch(this.#sessions, deviceId, { type: 'capability_reload', reload_id: reloadId, packs }, tenantId).to;
    if (!cluster || tenantId === undefined || this.#sessions.get(tenantId, deviceId)) return this.#reloads.request(send);
    // Several nodes: the node holding the device sends it and relays the answer back here.
    const who = { tenant_id: tenantId, device_id: deviceId };
    return cluster.holderOf(who).then((holder) => {
      if (!holder || holder.node === cluster.nodeId) return this.#reloads.request(send);
      return this.#reloads.request((reloadId) => {
        cluster.send(holder.node, { t: 'reload', who, reload_id: reloadId, packs, from: cluster.nodeId });
        return who;
      });
    });
  }

  /**
   * An execution's status and events (also `GET /v1/executions/{id}`); undefined for an unknown
   * request id.
   *
   * @example
   * hub.execution('req_01JGX2N3D7K9W2E4R6T8Y0U2I4')?.status; // 'running'
   */
  execution(requestId: string): ExecutionSnapshot | undefined {
    return this.#delivery.snapshot(requestId);
  }

  /**
   * Cancels an execution: withdrawn if it never left the hub, else the device is sent
   * `execution_cancel`. Resolves false when it has already ended. With several nodes it works on
   * any node: one that knows the execution only from its copy in Redis routes the cancel to the
   * node holding its device, as `POST /v1/executions/{id}/cancel` does.
   *
   * @throws {HubError} `unknown_execution` (a rejection) when no node knows it.
   * @example
   * await hub.cancelExecution('req_01JGX2N3D7K9W2E4R6T8Y0U2I4', 'user pressed stop'); // true
   */
  async cancelExecution(requestId: string, reason?: string): Promise<boolean> {
    const { outcome } = await this.#delivery.cancelAnywhere(requestId, reason);
    if (outcome === 'unknown') throw new HubError('unknown_execution', `no execution '${requestId}'`);
    return outcome === 'cancelling';
  }

  /**
   * A tenant's usage ledger: every usage report booked once, and the totals (also
   * `GET /v1/usage?tenant=…`).
   *
   * @throws {HubError} `invalid_state` before `listen()` opened the ledger.
   * @example
   * hub.usage('acme').totals; // { reports: 3, duration_ms: 5120, input_tokens: 1260, output_tokens: 342, cost_estimate: 0.0041 }
   */
  usage(tenantId: string): UsageSummary {
    const ledger = this.#ledger.current;
    if (!ledger) throw new HubError('invalid_state', 'the usage ledger opens with listen()');
    return ledger.summary(tenantId);
  }

  /**
   * A device's room as the hub knows it: saturated or not, its credit, what waits and what is out.
   * @example
   * hub.capacityOf({ device_id: 'laptop-1', tenant_id: 'acme' }); // { saturated: false, credit: 68, waiting: 0, outstanding: 2 }
   */
  capacityOf(who: { device_id: string; tenant_id: string }): ReturnType<HubDelivery['capacityOf']> {
    return this.#delivery.capacityOf(who);
  }

  /**
   * The open (authenticated) sessions, one per (tenant, device).
   *
   * @example
   * hub.devices(); // [{ device_id: 'laptop-1', tenant_id: 'acme', session_id: '…', connected_since: 1767225600000 }]
   */
  devices(): SessionInfo[] {
    return this.#sessions.devices();
  }

  /**
   * Sends a message to a device's open session as is and returns the message id: no queue, no
   * `seq`, no resend, so it is lost if the socket is. For executions use {@link Hub.execute}.
   * Without `tenantId` the device id must be connected in exactly one tenant.
   *
   * @throws {HubError} `not_connected`, `ambiguous_device` or `invalid_message`.
   * @example
   * const id = hub.dispatch('laptop-1', {
   *   type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo',
   * }, { tenantId: 'acme' });
   */
  dispatch(deviceId: string, message: DispatchMessage, options: { tenantId?: string } = {}): string {
    return dispatch(this.#sessions, deviceId, message, options.tenantId).id;
  }

  /**
   * Signs a device token, as `POST /v1/device-token` would, without asking for a credential
   * or checking revocation. For tests and for hosts that enrol devices their own way.
   *
   * @throws {HubError} `tokens_disabled` when the hub was created without `tokens`.
   * @example
   * const { token, expiresAt, jti } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
   */
  async issueToken({ device_id, tenant_id }: { device_id: string; tenant_id: string }): Promise<IssuedToken> {
    return this.#auth.issueToken(device_id, tenant_id);
  }

  /**
   * The public keys that verify the hub's tokens (also served at `/.well-known/jwks.json`).
   *
   * @throws {HubError} `tokens_disabled` when the hub was created without `tokens`.
   * @example
   * const { keys } = await hub.jwks(); // [{ kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' }]
   */
  async jwks(): Promise<JSONWebKeySet> {
    return this.#auth.jwks();
  }

  /**
   * Makes a new key sign tokens. The old key keeps verifying (and stays in the JWKS) until
   * every token it signed has expired, `lifetimeMs + leewayMs` after the rotation. Resolves
   * with the new key's `kid`.
   *
   * @throws {HubError} `tokens_disabled` when the hub was created without `tokens`.
   * @example
   * const kid = await hub.rotateKeys();
   */
  async rotateKeys(): Promise<string> {
    return this.#auth.rotateKeys();
  }

  /**
   * Revokes a device: its open sessions close with `4007 revoked`, and its tokens, its
   * `connect`s (whatever the credential) and its token requests are refused until
   * {@link Hub.unrevokeDevice}. Without `tenantId`, the device id is revoked in every tenant.
   * Returns how many sessions it closed.
   *
   * @example
   * hub.revokeDevice('laptop-1', { tenantId: 'acme' }); // 1
   */
  revokeDevice(deviceId: string, { tenantId }: { tenantId?: string } = {}): number {
    const closed = this.#auth.revokeDevice(deviceId, tenantId);
    this.#engine.cluster?.broadcast({ t: 'revoke_device', device_id: deviceId, ...(tenantId !== undefined && { tenant_id: tenantId }) });
    return closed;
  }

  /**
   * Lifts a device revocation. Without `tenantId` every revocation of the device id is lifted;
   * with one, that tenant's (a revocation made without a tenant stays).
   *
   * @example
   * hub.unrevokeDevice('laptop-1', { tenantId: 'acme' });
   */
  unrevokeDevice(deviceId: string, { tenantId }: { tenantId?: string } = {}): void {
    this.#auth.unrevokeDevice(deviceId, tenantId);
    this.#engine.cluster?.broadcast({ t: 'unrevoke_device', device_id: deviceId, ...(tenantId !== undefined && { tenant_id: tenantId }) });
  }

  /**
   * Revokes one token by its `jti`: it is refused from now on (on `connect` and
   * `auth_refresh`), and a session living on it (not refreshed since) closes with
   * `4007 revoked`. Returns how many sessions it closed.
   *
   * @example
   * const { jti } = await hub.issueToken({ device_id: 'laptop-1', tenant_id: 'acme' });
   * hub.revokeToken(jti);
   */
  revokeToken(jti: string): number {
    const closed = this.#auth.revokeToken(jti);
    this.#engine.cluster?.broadcast({ t: 'revoke_token', jti });
    return closed;
  }

  /**
   * Approves a device login waiting on `userCode` (what the user does in a browser): the
   * device's next poll of `POST /v1/oauth/token` gets a user access token for `userId` in
   * `organization` (default: the user's first) and a refresh token. Case, dashes and spaces
   * in the user code do not matter. Also `POST /v1/oauth/approve`.
   *
   * On the Redis engine the login may have been started on any hub node on the same Redis.
   * Resolves once the approval is stored.
   *
   * @throws {HubError} (rejects) `unknown_user_code` (unknown, expired, or already approved or
   *   denied), `unknown_user`, `not_a_member`, or `tokens_disabled`.
   * @example
   * // the device showed "WDJB-MJHT" to its user
   * await hub.approveDeviceLogin('WDJB-MJHT', { userId: 'ada', organization: 'acme' });
   */
  approveDeviceLogin(userCode: string, { userId, organization }: { userId: string; organization?: string }): Promise<void> {
    return this.#auth.approveDeviceLogin(userCode, organization === undefined ? { userId } : { userId, organization });
  }

  /**
   * Denies a device login waiting on `userCode`: the device's next poll gets `access_denied`.
   *
   * @throws {HubError} (rejects) `unknown_user_code` or `tokens_disabled`.
   * @example
   * await hub.denyDeviceLogin('WDJB-MJHT');
   */
  denyDeviceLogin(userCode: string): Promise<void> {
    return this.#auth.denyDeviceLogin(userCode);
  }

  /**
   * Closes every session with `1012 server_restart`, stops listening, waits `downMs` (on the
   * hub's clock), and listens again on the same host and port.
   *
   * @example
   * await hub.restart({ downMs: 500 }); // devices see 1012, then reconnect to the same URL
   */
  restart({ downMs = 0 }: { downMs?: number } = {}): Promise<void> {
    return this.#listener.restart(downMs);
  }

  /**
   * Closes every session with `1001 going_away` and stops listening. Resolves once every
   * socket is closed. Idempotent: later calls return the same promise.
   *
   * @example
   * process.once('SIGTERM', () => void hub.close());
   */
  close(): Promise<void> {
    this.#delivery.close();
    this.#closing ??= this.#listener
      .close()
      .then(() => Promise.all([this.#ledger.close(), this.#settings.close(), this.#unheldExpiry?.stop(true)]))
      .then(() => this.#engine.close());
    return this.#closing;
  }

  /**
   * {@link Hub.#emitSafely} for `message`, the event of every device frame: the two arguments
   * passed as they are, without the rest array (and its spread) of the generic one.
   */
  #emitMessage(info: SessionInfo, message: DeviceMessage): void {
    try {
      this.emit('message', info, message);
    } catch (error) {
      this.#log.error({ err: error, event: 'message' }, 'a hub event listener threw');
    }
  }

  /** A throwing listener is a bug in the host app; it must not end a device's session. */
  #emitSafely<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): void {
    try {
      // The generic K does not narrow HubEvents[K] for EventEmitter's overloads.
      (this.emit as (event: K, ...args: HubEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ err: error, event }, 'a hub event listener threw');
    }
  }
}

/**
 * Creates a hub. Call `listen()` to start it.
 *
 * @example
 * const hub = createHub({ staticToken: process.env.HUB_TOKEN });
 * hub.on('message', (session, message) => console.log(session.device_id, message.type));
 * const { url } = await hub.listen({ port: 8080 });
 * // later
 * hub.dispatch('laptop-1', { type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo' });
 * await hub.close();
 *
 * @example
 * // A token issuer: devices trade their secret for a 15-minute JWT at POST /v1/device-token.
 * const hub = createHub({
 *   tokens: { deviceCredentials: [{ tenant_id: 'acme', secret: process.env.ACME_ENROLLMENT_SECRET! }] },
 * });
 */
export function createHub(options: HubOptions): Hub {
  return new Hub(options);
}
