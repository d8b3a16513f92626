import { type AnyActorRef, assign, emit, enqueueActions, type EventObject, setup, type SnapshotFrom, spawnChild, stopChild } from 'xstate';
import { z } from 'zod';
import type { Message, Outbound } from '../protocol/messages.ts';
import { type AuthInput, authMachine, type AuthOutput } from './auth.ts';
import { type ConnectionInput, type ConnectionOutput, connectionMachine, type SessionInfo } from './connection.ts';
import { type HeartbeatInput, heartbeatMachine, type HeartbeatOutput } from './heartbeat.ts';
import { type ChannelEvent, channelMachine, type ChannelOutput, ChannelPolicy } from './channel.ts';
import { settingsSyncMachine, type SettingsSyncEvent, type SettingsSyncInput, type SettingsSyncOutput } from './settings-sync.ts';
import type { SettingsPatch } from '../protocol/settings-document.ts';
import type { SettingsState } from '../machines/settings-sync-state.ts';
import { channelId, errorText, hash, reapOrphans, sendToChild as sendToLiveChild } from './supervisor-support.ts';
import { routeFrame } from './frame-routing.ts';

export { channelId, reapOrphans } from './supervisor-support.ts';

/** Names of the children the supervisor owns; each is also its `systemId`. */
export const CHILDREN = ['auth', 'connection', 'heartbeat', 'settings'] as const;
export type ChildName = (typeof CHILDREN)[number];

/**
 * Restart policy: a child that fails is restarted at once, at most `maxRestarts` times within
 * `windowMs`; one more failure in the window puts the supervisor in `degraded` with the child
 * left stopped, until the host sends `recover`. (Erlang/OTP's intensity and period.)
 */
export const RestartPolicy = z.object({
  maxRestarts: z.number().int().nonnegative().default(3),
  windowMs: z.number().int().positive().default(60_000),
});
export type RestartPolicy = z.output<typeof RestartPolicy>;

export interface SupervisorInput {
  auth: AuthInput;
  connection: ConnectionInput;
  heartbeat: HeartbeatInput;
  restartPolicy: RestartPolicy;
  now: () => number;
  /** Policy of every channel actor; default `ChannelPolicy.parse({})`. */
  channelPolicy?: ChannelPolicy;
  /** Seed of the channels' rejoin jitter (each channel derives its own). */
  seed?: number;
  /**
   * The settings-sync child's input but its state: the child starts on `settings.load` with the
   * cached state (read from disk by the host). Without it there is no settings child.
   */
  settings?: Omit<SettingsSyncInput, 'state' | 'linkUp'>;
}

export interface SupervisorContext extends SupervisorInput {
  /** Wall times of recent restarts, per child. */
  restarts: Record<ChildName, number[]>;
  /** The host asked for a connection (so a restarted connection child is told to connect). */
  wanted: boolean;
  /** The live session, so a restarted heartbeat child picks the link up again. */
  session: SessionInfo | undefined;
  /** The connection is waiting for a token (so a restarted auth child is asked again). */
  tokenWanted: boolean;
  /** Why the supervisor is degraded. */
  failure: { child: ChildName; error: string } | undefined;
  /** The settings child's last state, so a restarted one starts from it; undefined until loaded. */
  settingsState: SettingsState | undefined;
}

/** Events the host sends to the supervisor. */
export type HostEvent =
  | { type: 'connect' }
  | { type: 'login' }
  | { type: 'cancel_login' }
  | { type: 'logout' }
  | { type: 'switch_organization'; organization: string }
  | { type: 'disconnect' }
  | { type: 'send'; message: Outbound }
  | { type: 'send_frame'; frame: string }
  | { type: 'recover' }
  /** Wants a channel joined (and rejoined after every reconnect) until `channel.leave`. */
  | { type: 'channel.join'; channel: string; workspaceId?: string }
  | { type: 'channel.leave'; channel: string }
  /** A message on a channel: sent when joined, buffered until then. `id` names it in `channel.expired`. */
  /** `seq`: a reliable send (src/machines/channel.ts). */
  | { type: 'channel.send'; channel: string; id: string; event: string; payload: Record<string, unknown>; seq?: number }
  /** Starts the settings child from the cached state. */
  | { type: 'settings.load'; state: SettingsState }
  /** A local change of the user's settings (validated by the host first). */
  | { type: 'settings.edit'; id: string; patch: SettingsPatch }
  /** The hub refused the token on an API request (a reactive refresh), or took the refreshed one. */
  | { type: 'api.token_rejected' | 'api.token_accepted' };

type ChildErrorEvent = { type: `xstate.error.actor.${ChildName}`; error: unknown };
export type SupervisorEvent =
  | HostEvent
  | ConnectionOutput
  | HeartbeatOutput
  | AuthOutput
  | ChildErrorEvent
  | ChannelOutput
  | SettingsSyncOutput
  | { type: `xstate.error.actor.channel.${string}`; error: unknown };

/** Events the supervisor emits to the host (`actor.on('message', …)`). */
export type SupervisorEmitted =
  | { type: 'message'; message: Message }
  /** A session opened (after `connect_ack`) or ended: the host's cue to send its backlog or hold it. */
  | { type: 'session.up'; session: SessionInfo }
  | { type: 'session.down' }
  | Extract<AuthOutput, { type: 'auth.login_prompt' | 'auth.logged_out' | 'auth.tenant_changed' | 'auth.switch_failed' }>
  | { type: 'child.restarted'; child: ChildName; error: string }
  | { type: 'child.failed'; child: ChildName; error: string }
  | Exclude<ChannelOutput, { type: 'channel.out' }>
  | { type: 'channel.failed'; channel: string; error: string }
  | Exclude<SettingsSyncOutput, { type: 'settings.out' }>;

/** `sendToChild` of supervisor-support.ts, typed for this machine. */
const sendToChild = <E extends EventObject>(
  child: ChildName,
  make: (args: { context: SupervisorContext; event: SupervisorEvent }) => E | undefined,
) => sendToLiveChild<SupervisorContext, SupervisorEvent, E>(child, make);

/** The named actions that start, stop and resume each child. */
const lifecycle = {
  auth: { spawn: 'spawnAuth', stop: 'stopAuth', resume: 'resumeAuth' },
  connection: { spawn: 'spawnConnection', stop: 'stopConnection', resume: 'resumeConnection' },
  heartbeat: { spawn: 'spawnHeartbeat', stop: 'stopHeartbeat', resume: 'resumeHeartbeat' },
  settings: { spawn: 'spawnSettings', stop: 'stopSettings', resume: 'resumeSettings' },
} as const satisfies Record<ChildName, Record<string, string>>;

/**
 * Stops a dead child and whatever it left running. A dead connection took its session with it,
 * though it never said `connection.down`: everyone who relies on the session is told here.
 */
const stopDead = (child: ChildName) =>
  [{ type: 'reap', params: { child } }, lifecycle[child].stop, ...(child === 'connection' ? (['sessionLost'] as const) : [])] as const;

/** A child's error: restart it within the budget, else go `degraded` with it stopped. */
const restartOrDegrade = (child: ChildName) =>
  [
    {
      guard: { type: 'canRestart', params: { child } },
      actions: [
        { type: 'countRestart', params: { child } },
        ...stopDead(child),
        lifecycle[child].spawn,
        lifecycle[child].resume,
        { type: 'emitRestarted', params: { child } },
      ],
    },
    { target: 'degraded', actions: [{ type: 'recordFailure', params: { child } }, ...stopDead(child)] },
  ] as const;

/**
 * The supervisor: the root actor a host starts. It owns five child machines: auth, connection
 * and heartbeat from the start, settings-sync once the settings cache is loaded (all named
 * children, `systemId` = name), and a channel machine per channel the host joins. It routes
 * events between them and the host (each inbound frame as frame-routing.ts says), and restarts
 * a failed auth, connection, heartbeat or settings-sync child under the {@link RestartPolicy};
 * a failed channel actor is stopped and reported (`channel.failed`). XState has no supervision
 * of its own: an actor error nobody observes is rethrown in a timer and kills Node, so every
 * child's `xstate.error.actor.*` is handled here.
 *
 * States: `running`, and `degraded` (a child failed past its restart budget; the others keep
 * working; `recover` starts every missing child again). Stopping is `actor.stop()`.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as SupervisorEmitted,
  },
  actors: {
    auth: authMachine,
    connection: connectionMachine,
    heartbeat: heartbeatMachine,
    channel: channelMachine,
    settings: settingsSyncMachine,
  },
  guards: {
    canRestart: ({ context }, params: { child: ChildName }) => {
      const since = context.now() - context.restartPolicy.windowMs;
      return context.restarts[params.child].filter((t) => t > since).length < context.restartPolicy.maxRestarts;
    },
  },
  actions: {
    spawnAuth: spawnChild('auth', { id: 'auth', systemId: 'auth', input: ({ context }) => context.auth }),
    stopAuth: stopChild('auth'),
    // A fresh auth child fetches its own first token; ask it again if the connection was waiting.
    resumeAuth: sendToChild('auth', ({ context }) => (context.tokenWanted ? { type: 'token.request' } : undefined)),
    wantToken: assign({ tokenWanted: true }),
    tokenAnswered: assign({ tokenWanted: false }),
    askForToken: sendToChild('auth', () => ({ type: 'token.request' })),
    reportRejection: sendToChild('auth', () => ({ type: 'token.rejected' })),
    confirmToken: sendToChild('auth', () => ({ type: 'token.accepted' })),
    // Proactive refresh is for live sessions; a parked connection asks for a token when it retries.
    sessionUp: sendToChild('auth', () => ({ type: 'session.up' })),
    sessionDown: sendToChild('auth', () => ({ type: 'session.down' })),
    grantToken: sendToChild('connection', ({ event }) => {
      const { grant } = event as Extract<AuthOutput, { type: 'auth.token' }>;
      return { type: 'token.granted', token: grant.token, ...(grant.user && { tenantId: grant.user.organization.id }) };
    }),
    changeTenant: sendToChild('connection', ({ event }) => ({
      type: 'tenant.changed',
      tenantId: (event as Extract<AuthOutput, { type: 'auth.tenant_changed' }>).tenant,
    })),
    dropSession: sendToChild('connection', () => ({ type: 'credentials.revoked' })),
    forwardToAuth: sendToChild('auth', ({ event }) => event),
    emitAuthEvent: emit(({ event }) => event as Extract<SupervisorEmitted, { type: `auth.${string}` }>),
    refuseToken: sendToChild('connection', ({ event }) => ({
      type: 'token.unavailable',
      reason: (event as Extract<AuthOutput, { type: 'auth.unavailable' }>).reason,
    })),
    passRefreshedToken: sendToChild('connection', ({ event }) => ({
      type: 'token.refreshed',
      token: (event as Extract<AuthOutput, { type: 'auth.refreshed' }>).grant.token,
    })),
    // The hub's answer to an in-band `auth_refresh` goes to the auth machine.
    routeAuthReply: sendToChild('auth', ({ event }) => (event.type === 'connection.frame' ? routeFrame(event.message).auth : undefined)),
    spawnConnection: spawnChild('connection', {
      id: 'connection',
      systemId: 'connection',
      input: ({ context }) => context.connection,
    }),
    spawnHeartbeat: spawnChild('heartbeat', {
      id: 'heartbeat',
      systemId: 'heartbeat',
      input: ({ context }) => context.heartbeat,
    }),
    /** A channel actor per channel the host wants; joining it twice is one actor. */
    spawnChannel: enqueueActions(({ context, event, enqueue, self }) => {
      const { channel, workspaceId } = event as Extract<HostEvent, { type: 'channel.join' }>;
      if (self.getSnapshot().children[channelId(channel)]) return;
      enqueue.spawnChild('channel', {
        id: channelId(channel),
        input: {
          channel,
          ...(workspaceId !== undefined && { workspaceId }),
          linkUp: context.session !== undefined,
          policy: context.channelPolicy ?? ChannelPolicy.parse({}),
          seed: (context.seed ?? 1) ^ hash(channel),
          now: context.now,
        },
      });
    }),
    toChannel: enqueueActions(({ event, enqueue, self }) => {
      const e = event as Extract<HostEvent, { type: 'channel.leave' | 'channel.send' }>;
      const child = self.getSnapshot().children[channelId(e.channel)] as AnyActorRef | undefined;
      if (child?.getSnapshot().status !== 'active') return;
      enqueue.sendTo(
        child,
        e.type === 'channel.leave'
          ? ({ type: 'leave' } satisfies ChannelEvent)
          : ({
              type: 'send',
              id: e.id,
              event: e.event,
              payload: e.payload,
              ...(e.seq !== undefined && { seq: e.seq }),
            } satisfies ChannelEvent),
      );
    }),
    /** A send on a channel nobody asked to join: told to the sender at once. */
    refuseUnknownChannelSend: enqueueActions(({ event, enqueue, self }) => {
      const e = event as Extract<HostEvent, { type: 'channel.send' }>;
      if (self.getSnapshot().children[channelId(e.channel)]) return;
      enqueue.emit({ type: 'channel.expired', channel: e.channel, sends: [{ id: e.id, event: e.event }] });
    }),
    /** The link's state goes to every channel. */
    linkToChannels: enqueueActions(({ event, enqueue, self }) => {
      for (const [id, child] of Object.entries(self.getSnapshot().children)) {
        if (!id.startsWith('channel.') || child?.getSnapshot().status !== 'active') continue;
        enqueue.sendTo(child as AnyActorRef, { type: event.type === 'connection.up' ? 'link.up' : 'link.down' } satisfies ChannelEvent);
      }
    }),
    /** A channel frame from the hub goes to its channel's actor. */
    routeChannelFrame: enqueueActions(({ event, enqueue, self }) => {
      const route = event.type === 'connection.frame' ? routeFrame(event.message).channel : undefined;
      if (!route) return;
      const child = self.getSnapshot().children[route.id] as AnyActorRef | undefined;
      if (child?.getSnapshot().status === 'active') enqueue.sendTo(child, route.event);
    }),
    channelOut: sendToChild('connection', ({ event }) => ({
      type: 'send',
      message: (event as Extract<ChannelOutput, { type: 'channel.out' }>).message,
    })),
    emitChannelEvent: emit(({ event }) => event as Exclude<ChannelOutput, { type: 'channel.out' }>),
    stopLeftChannel: enqueueActions(({ event, enqueue }) => {
      enqueue.stopChild(channelId((event as Extract<ChannelOutput, { type: 'channel.left' }>).channel));
    }),
    /** A channel actor that failed is stopped and reported; the host may join again. */
    dropFailedChannel: enqueueActions(({ event, enqueue }) => {
      const id = event.type.slice('xstate.error.actor.'.length);
      enqueue.stopChild(id);
      enqueue.emit({ type: 'channel.failed', channel: id.slice('channel.'.length), error: errorText((event as { error: unknown }).error) });
    }),
    /** The settings child, once its cache is loaded (and again after a failure, from its last state). */
    spawnSettings: enqueueActions(({ context, enqueue, system }) => {
      if (!context.settings || !context.settingsState || system.get('settings')) return;
      enqueue.spawnChild('settings', {
        id: 'settings',
        systemId: 'settings',
        input: { ...context.settings, state: context.settingsState, linkUp: context.session !== undefined },
      });
    }),
    stopSettings: stopChild('settings'),
    // A fresh settings child learns the link from its input.
    resumeSettings: assign({}),
    loadSettings: assign(({ context, event }) => ({
      settingsState: context.settingsState ?? (event as Extract<HostEvent, { type: 'settings.load' }>).state,
    })),
    rememberSettings: assign(({ event }) => ({
      settingsState: (event as Extract<SettingsSyncOutput, { type: 'settings.changed' }>).state,
    })),
    editSettings: sendToChild('settings', ({ event }) => {
      const { id, patch } = event as Extract<HostEvent, { type: 'settings.edit' }>;
      return { type: 'edit', id, patch } satisfies SettingsSyncEvent;
    }),
    linkToSettings: sendToChild(
      'settings',
      ({ event }) => ({ type: event.type === 'connection.up' ? 'link.up' : 'link.down' }) satisfies SettingsSyncEvent,
    ),
    routeSettingsFrame: sendToChild('settings', ({ event }) =>
      event.type === 'connection.frame' ? routeFrame(event.message).settings : undefined,
    ),
    settingsOut: sendToChild('connection', ({ event }) => ({
      type: 'send',
      message: (event as Extract<SettingsSyncOutput, { type: 'settings.out' }>).message,
    })),
    emitSettingsEvent: emit(({ event }) => event as Exclude<SettingsSyncOutput, { type: 'settings.out' }>),
    wantConnected: assign({ wanted: true }),
    wantDisconnected: assign({ wanted: false }),
    forwardToConnection: sendToChild('connection', ({ event }) => event),
    rememberSession: assign(({ event }) => (event.type === 'connection.up' ? { session: event.session } : {})),
    forgetSession: assign({ session: undefined }),
    /** What `connection.down` does, for a connection child that died without saying it. */
    sessionLost: enqueueActions(({ context, enqueue, self, system }) => {
      if (context.session === undefined) return;
      enqueue.assign({ session: undefined });
      enqueue.emit({ type: 'session.down' });
      const alive = (ref: AnyActorRef | undefined): ref is AnyActorRef => ref?.getSnapshot().status === 'active';
      const auth = system.get('auth') as AnyActorRef | undefined;
      if (alive(auth)) enqueue.sendTo(auth, { type: 'session.down' });
      for (const child of ['heartbeat', 'settings'] as const) {
        const ref = system.get(child) as AnyActorRef | undefined;
        if (alive(ref)) enqueue.sendTo(ref, { type: 'link.down' });
      }
      for (const [id, child] of Object.entries(self.getSnapshot().children)) {
        if (id.startsWith('channel.') && alive(child as AnyActorRef))
          enqueue.sendTo(child as AnyActorRef, { type: 'link.down' } satisfies ChannelEvent);
      }
    }),
    emitSessionUp: emit(({ event }) => ({
      type: 'session.up' as const,
      session: (event as Extract<ConnectionOutput, { type: 'connection.up' }>).session,
    })),
    emitSessionDown: emit({ type: 'session.down' as const }),
    // Every frame is a sign of life, and so is a data frame that skipped the machines (`connection.activity`).
    reportActivity: sendToChild('heartbeat', ({ event }) =>
      event.type === 'connection.frame' ? routeFrame(event.message).heartbeat : { type: 'activity' },
    ),
    emitMessage: enqueueActions(({ event, enqueue }) => {
      // Liveness and re-authentication replies are the runtime's business, not the host's.
      if (event.type === 'connection.frame' && routeFrame(event.message).host) enqueue.emit({ type: 'message', message: event.message });
    }),
    sendHeartbeat: sendToChild('connection', ({ event }) => ({
      type: 'send',
      message: { type: 'heartbeat', seq: (event as Extract<HeartbeatOutput, { type: 'heartbeat.send' }>).seq },
    })),
    reportDeadLink: sendToChild('connection', ({ event }) => ({
      type: 'link.dead',
      reason: (event as Extract<HeartbeatOutput, { type: 'heartbeat.dead' }>).reason,
    })),
    reap: ({ self }, params: { child: ChildName }) => reapOrphans(self.getSnapshot().children[params.child]),
    stopConnection: stopChild('connection'),
    stopHeartbeat: stopChild('heartbeat'),
    countRestart: assign(({ context }, params: { child: ChildName }) => {
      const since = context.now() - context.restartPolicy.windowMs;
      const recent = context.restarts[params.child].filter((t) => t > since);
      return { restarts: { ...context.restarts, [params.child]: [...recent, context.now()] } };
    }),
    // A fresh connection child starts `initialized`: bring it back to what the host asked for.
    resumeConnection: sendToChild('connection', ({ context }) => ({ type: context.wanted ? 'connect' : 'disconnect' })),
    resumeHeartbeat: sendToChild('heartbeat', ({ context }) =>
      context.session
        ? { type: 'link.up', intervalMs: context.session.heartbeatIntervalMs, timeoutMs: context.session.heartbeatTimeoutMs }
        : { type: 'link.down' },
    ),
    emitRestarted: emit(({ event }, params: { child: ChildName }) => ({
      type: 'child.restarted' as const,
      child: params.child,
      error: errorText((event as ChildErrorEvent).error),
    })),
    recordFailure: assign(({ event }, params: { child: ChildName }) => ({
      failure: { child: params.child, error: errorText((event as ChildErrorEvent).error) },
    })),
    clearFailure: assign({ failure: undefined, restarts: { auth: [], connection: [], heartbeat: [], settings: [] } }),
    emitFailed: emit(({ context }) => ({
      type: 'child.failed' as const,
      child: context.failure!.child,
      error: context.failure!.error,
    })),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({
    ...input,
    restarts: { auth: [], connection: [], heartbeat: [], settings: [] },
    wanted: false,
    session: undefined,
    tokenWanted: false,
    failure: undefined,
    settingsState: undefined,
  }),
  entry: ['spawnAuth', 'spawnConnection', 'spawnHeartbeat'],
  // Routing works in every state: a degraded supervisor still runs the children it has.
  on: {
    connect: { actions: ['wantConnected', 'resumeConnection'] },
    disconnect: { actions: ['wantDisconnected', 'resumeConnection'] },
    send: { actions: 'forwardToConnection' },
    send_frame: { actions: 'forwardToConnection' },
    'connection.token_needed': { actions: ['wantToken', 'askForToken'] },
    'connection.token_rejected': { actions: 'reportRejection' },
    'auth.token': { actions: ['tokenAnswered', 'grantToken'] },
    'auth.unavailable': { actions: ['tokenAnswered', 'refuseToken'] },
    'auth.refreshed': { actions: 'passRefreshedToken' },
    'auth.tenant_changed': { actions: ['changeTenant', 'emitAuthEvent'] },
    'auth.logged_out': { actions: ['dropSession', 'emitAuthEvent'] },
    'auth.login_prompt': { actions: 'emitAuthEvent' },
    'auth.switch_failed': { actions: 'emitAuthEvent' },
    login: { actions: 'forwardToAuth' },
    cancel_login: { actions: 'forwardToAuth' },
    logout: { actions: 'forwardToAuth' },
    switch_organization: { actions: 'forwardToAuth' },
    'connection.up': {
      actions: ['rememberSession', 'resumeHeartbeat', 'confirmToken', 'sessionUp', 'emitSessionUp', 'linkToChannels', 'linkToSettings'],
    },
    'connection.down': {
      actions: ['forgetSession', 'resumeHeartbeat', 'sessionDown', 'emitSessionDown', 'linkToChannels', 'linkToSettings'],
    },
    'connection.frame': { actions: ['reportActivity', 'routeAuthReply', 'routeChannelFrame', 'routeSettingsFrame', 'emitMessage'] },
    'connection.activity': { actions: 'reportActivity' },
    'settings.load': { actions: ['loadSettings', 'spawnSettings'] },
    'settings.edit': { actions: 'editSettings' },
    'api.token_rejected': { actions: 'reportRejection' },
    'api.token_accepted': { actions: 'confirmToken' },
    'settings.out': { actions: 'settingsOut' },
    'settings.changed': { actions: ['rememberSettings', 'emitSettingsEvent'] },
    'settings.rejected': { actions: 'emitSettingsEvent' },
    'settings.conflict': { actions: 'emitSettingsEvent' },
    'settings.edit_done': { actions: 'emitSettingsEvent' },
    'channel.join': { actions: 'spawnChannel' },
    'channel.leave': { actions: 'toChannel' },
    'channel.send': { actions: ['refuseUnknownChannelSend', 'toChannel'] },
    'channel.out': { actions: 'channelOut' },
    'channel.deliver': { actions: 'emitChannelEvent' },
    'channel.expired': { actions: 'emitChannelEvent' },
    'channel.joined': { actions: 'emitChannelEvent' },
    'channel.refused': { actions: 'emitChannelEvent' },
    'channel.left': { actions: ['stopLeftChannel', 'emitChannelEvent'] },
    'xstate.error.actor.channel.*': { actions: 'dropFailedChannel' },
    'heartbeat.send': { actions: 'sendHeartbeat' },
    'heartbeat.dead': { actions: 'reportDeadLink' },
  },
  initial: 'running',
  states: {
    running: {
      on: {
        'xstate.error.actor.auth': restartOrDegrade('auth'),
        'xstate.error.actor.connection': restartOrDegrade('connection'),
        'xstate.error.actor.heartbeat': restartOrDegrade('heartbeat'),
        'xstate.error.actor.settings': restartOrDegrade('settings'),
      },
    },
    degraded: {
      entry: 'emitFailed',
      on: {
        // Another child failing while degraded is stopped too; the first failure stays the reason.
        'xstate.error.actor.auth': { actions: stopDead('auth') },
        'xstate.error.actor.connection': { actions: stopDead('connection') },
        'xstate.error.actor.heartbeat': { actions: stopDead('heartbeat') },
        'xstate.error.actor.settings': { actions: stopDead('settings') },
        // Every child that is gone (the one that failed, and any that failed after it) starts afresh.
        recover: {
          target: 'running',
          actions: [
            enqueueActions(({ enqueue, system }) => {
              for (const child of CHILDREN) {
                if (system.get(child)) continue;
                enqueue(lifecycle[child].spawn);
                enqueue(lifecycle[child].resume);
              }
            }),
            'clearFailure',
          ],
        },
      },
    },
  },
});

/** The supervisor's part of the connector status. */
export interface SupervisorStatus {
  state: 'running' | 'degraded' | 'stopped';
  /** `started`, `child_failed` (degraded) or `stopped`. */
  reason: string;
  /** The child that failed past its restart budget, while degraded. */
  failure?: { child: ChildName; error: string };
}

/** What the host sees of the supervisor itself (`ConnectorStatus.supervisor`); `stopped` once it is not active. */
export function statusOf(snapshot: SnapshotFrom<typeof supervisorMachine>): SupervisorStatus {
  const state = snapshot.status !== 'active' ? 'stopped' : (snapshot.value as 'running' | 'degraded');
  const { failure } = snapshot.context;
  return {
    state,
    reason: state === 'stopped' ? 'stopped' : failure ? 'child_failed' : 'started',
    ...(failure && { failure }),
  };
}
