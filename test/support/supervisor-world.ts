import { type Actor, type AnyActorRef, createActor, fromPromise, type InspectionEvent, SimulatedClock } from 'xstate';
import { z } from 'zod';
import { createSocketActor, type SocketActorDeps } from '../../src/actors/socket.ts';
import { SocketPort } from '../../src/actors/socket-port.ts';
import { createMemoryNetwork, type MemoryPeer } from '../../src/adapters/memory-socket.ts';
import { AuthFetchError, authMachine, defaultAuthPolicy, type LoginInProgress, type TokenGrant } from '../../src/machines/auth.ts';
import { BackoffPolicy } from '../../src/machines/backoff.ts';
import { ChannelPolicy, channelMachine } from '../../src/machines/channel.ts';
import { connectionMachine } from '../../src/machines/connection.ts';
import { heartbeatMachine } from '../../src/machines/heartbeat.ts';
import { type PushAnswer, type PushInput, SettingsPolicy, settingsSyncMachine } from '../../src/machines/settings-sync.ts';
import { RestartPolicy, type SupervisorEmitted, supervisorMachine } from '../../src/machines/supervisor.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import type { Outbound } from '../../src/protocol/messages.ts';
import { applyPatch, type SettingsDocument, type SettingsSnapshot } from '../../src/protocol/settings-document.ts';
import type { ValidateSettings } from '../../src/machines/settings-sync-state.ts';
import { Faults } from './child-faults.ts';
import { frame } from './frames.ts';

/*
 * A supervisor with its real children, on a SimulatedClock and an in-memory network, and the far
 * side of everything they talk to: a hub that answers handshakes, heartbeats, token refreshes and
 * settings subscriptions by itself (and joins, leaves and pushes when the test says), a token
 * endpoint for a logged-in user, and the settings HTTP API. Children are built once with fault
 * sites (support/child-faults.ts); `SupervisorWorld.current` is the world they talk to.
 */

export const RESTART = RestartPolicy.parse({ maxRestarts: 3, windowMs: 60_000 });
export const ORGS = [
  { id: 'org-a', name: 'Acme', role: 'owner' },
  { id: 'org-b', name: 'Globex', role: 'member' },
];
export const HEARTBEAT_WAKE_MS = 5_000;
const START = 1_800_000_000_000;
const TOKEN_LIFETIME_MS = 60_000;

export const faults = new Faults();

/** The host's settings schema: every setting a digit, so an operator's 99 is refused. */
const schema = z.record(z.string(), z.number().int().min(0).max(9));
const validate: ValidateSettings = (settings) => {
  const parsed = schema.safeParse(settings);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) };
};

const world = () => SupervisorWorld.current;
/** Wall time on the wire is whole milliseconds, as `Date.now()` is (timers may fall due in between). */
const wireNow = () => Math.floor(world().clock.now());
const codec = createCodec({ now: wireNow });
// The current world's port, as the connector gives its own: data frames skip the machines while a session is up.
const port: SocketActorDeps['port'] = {
  attach: (connection) => world().port.attach(connection),
  detach: (connection) => world().port.detach(connection),
  deliver: (connection, message) => world().port.deliver(connection, message),
};
const socket = createSocketActor({
  adapter: { open: (url, handlers, options) => world().net.adapter.open(url, handlers, options) },
  codec,
  port,
});
const pending = () => Object.assign(new Error('authorization pending'), { kind: 'authorization_pending' });
const impl = <M extends { implementations: { actions: object; guards: object } }>(machine: M, kind: 'actions' | 'guards', name: string) =>
  (machine.implementations[kind] as Record<string, unknown>)[name];

/** Where each child can be made to throw (the site names are the commands' words). */
export const SITES = {
  auth: 'auth: token.accepted',
  connectionFrame: 'connection: frame',
  connectionUp: 'connection: session up',
  heartbeatWake: 'heartbeat: wake check',
  heartbeatLinkUp: 'heartbeat: link up',
  settings: 'settings: edit',
  channel: 'channel: send',
} as const;

const logic = supervisorMachine.provide({
  actors: {
    auth: authMachine.provide({
      actors: {
        fetchToken: fromPromise<TokenGrant, { attempt: 'initial' | 'refresh'; organization?: string }>(async ({ input }) =>
          world().issue(input.organization),
        ),
        startLogin: fromPromise<LoginInProgress, { now: number }>(async ({ input }) => ({
          userCode: 'ABCD-EFGH',
          verificationUri: 'http://hub.test/verify',
          verificationUriComplete: undefined,
          expiresAt: input.now + 600_000,
          deviceCode: 'dc',
          intervalMs: 5_000,
        })),
        pollLogin: fromPromise<TokenGrant, { deviceCode: string }>(async () => {
          if (!world().hub.loginApproved) throw pending();
          world().hub.sessionValid = true;
          return world().issue(undefined);
        }),
        revokeSession: fromPromise<void, void>(async () => {
          Object.assign(world().hub, { sessionValid: false, loginApproved: false });
        }),
      },
      actions: { accepted: faults.action('auth', SITES.auth, impl(authMachine, 'actions', 'accepted')) },
    }) as typeof authMachine,
    connection: connectionMachine.provide({
      actors: { socket },
      actions: {
        forwardFrame: faults.action('connection', SITES.connectionFrame, impl(connectionMachine, 'actions', 'forwardFrame')),
        notifyUp: faults.action('connection', SITES.connectionUp, impl(connectionMachine, 'actions', 'notifyUp')),
      },
    }) as typeof connectionMachine,
    heartbeat: heartbeatMachine.provide({
      guards: { slept: faults.guard('heartbeat', SITES.heartbeatWake, impl(heartbeatMachine, 'guards', 'slept')) },
      actions: { startLink: faults.action('heartbeat', SITES.heartbeatLinkUp, impl(heartbeatMachine, 'actions', 'startLink')) },
    }) as typeof heartbeatMachine,
    channel: channelMachine.provide({
      actions: Object.fromEntries(
        ['sendNow', 'buffer', 'refuseSend'].map((name) => [
          name,
          faults.action('channel', SITES.channel, impl(channelMachine, 'actions', name)),
        ]),
      ),
    }) as typeof channelMachine,
    settings: settingsSyncMachine.provide({
      actors: {
        fetchSettings: fromPromise<SettingsSnapshot>(async () => world().settingsSnapshot()),
        pushEdit: fromPromise<PushAnswer, PushInput>(async ({ input }) => world().write(input)),
      },
      actions: { queueEdit: faults.action('settings', SITES.settings, impl(settingsSyncMachine, 'actions', 'queueEdit')) },
    }) as typeof settingsSyncMachine,
  },
});

/** What the device sent, as far as the hub reads it. */
type Sent = { type: string; id?: string; seq?: number; channel?: string };

export type JournalEntry =
  { kind: 'emitted'; event: SupervisorEmitted; at: number } | { kind: 'handled'; child: string; at: number; value: unknown };

export class SupervisorWorld {
  static current: SupervisorWorld;
  readonly clock = new SimulatedClock();
  readonly net = createMemoryNetwork();
  /** The data plane's way around the machines, linked while a session is up. */
  readonly port = new SocketPort();
  readonly actor: Actor<typeof logic>;
  /**
   * In order: what the supervisor emitted to the host, and every child failure it handled (which
   * child, when, and the supervisor's state after).
   */
  readonly journal: JournalEntry[] = [];
  readonly actorErrors: unknown[] = [];
  /** Every connection actor ever started. */
  readonly connections: AnyActorRef[] = [];
  /** The far side: what the hub, the token endpoint and the settings API do and hold. */
  readonly hub = {
    silent: false,
    refuseNextConnect: false,
    ignoreNextConnect: false,
    refuseNextSocket: false,
    refuseNextRefresh: false,
    /** The user's session at the hub: false after a logout until a login is approved. */
    sessionValid: true,
    loginApproved: false,
    organization: ORGS[0]!,
    tokens: 0,
    sessions: 0,
    /** Joins and leaves of the current session the test has not answered yet. */
    joins: [] as string[],
    leaves: [] as string[],
    /** Channels joined on the current session. */
    joined: new Set<string>(),
    offsets: {} as Record<string, number>,
    subscribed: false,
    epoch: 'e1',
    org: { version: 0, settings: {} } as SettingsDocument,
    user: { version: 0, settings: {} } as SettingsDocument,
  };
  private readonly read = new Map<MemoryPeer, number>();

  constructor(inspect: (event: InspectionEvent) => void) {
    SupervisorWorld.current = this;
    faults.reset();
    this.clock.set(START);
    this.net.onConnection = (peer) => (this.hub.refuseNextSocket ? ((this.hub.refuseNextSocket = false), peer.refuse()) : peer.accept());
    const now = () => this.clock.now();
    this.actor = createActor(logic, {
      id: 'supervisor',
      clock: this.clock,
      inspect: (event) => {
        inspect(event);
        const ref = event.actorRef as AnyActorRef;
        if (event.type === '@xstate.actor' && ref.id === 'connection') this.connections.push(ref);
        if (event.type === '@xstate.microstep' && ref.id === 'supervisor' && event.event.type.startsWith('xstate.error.actor.')) {
          this.journal.push({
            kind: 'handled',
            child: event.event.type.slice('xstate.error.actor.'.length),
            at: now(),
            value: event.snapshot.status === 'active' ? (event.snapshot as { value?: unknown }).value : 'crashed',
          });
        }
      },
      input: {
        now,
        restartPolicy: RESTART,
        heartbeat: { now, wakeCheckMs: HEARTBEAT_WAKE_MS },
        auth: { mode: 'user', policy: { ...defaultAuthPolicy, wakeCheckMs: 10_000 }, seed: 1, now },
        connection: {
          url: 'ws://hub.test/v1/connect',
          deviceId: 'dev-1',
          tenantId: 'org-a',
          policy: BackoffPolicy.parse({}),
          connectTimeoutMs: 10_000,
          closeTimeoutMs: 2_000,
          seed: 7,
          now,
        },
        channelPolicy: ChannelPolicy.parse({ joinTimeoutMs: 10_000, leaveTimeoutMs: 5_000, bufferTtlMs: 20_000 }),
        seed: 3,
        settings: {
          remote: true,
          policy: SettingsPolicy.parse({ subscribeTimeoutMs: 5_000, retryBaseMs: 500, retryCapMs: 4_000 }),
          defaults: { a: 0 },
          validate,
          seed: 5,
        },
      },
    });
    this.actor.on('*', (event) => void this.journal.push({ kind: 'emitted', event, at: now() }));
    // As the connector does: linked for the session, its data frames reach the host as messages too.
    this.actor.on('session.up', () =>
      this.port.link((message) => void this.journal.push({ kind: 'emitted', event: { type: 'message', message }, at: now() })),
    );
    this.actor.on('session.down', () => this.port.unlink());
    this.actor.subscribe({ error: (error) => void this.actorErrors.push(error) });
    this.actor.start();
  }

  /** A token for the user, or the endpoint's refusal. */
  issue(organization: string | undefined): TokenGrant {
    const org = organization === undefined ? this.hub.organization : ORGS.find((o) => o.id === organization);
    if (!org) throw new AuthFetchError('not_a_member', `not a member of ${organization}`);
    if (!this.hub.sessionValid) throw new AuthFetchError('rejected', 'the session ended');
    this.hub.organization = org;
    const now = this.clock.now();
    return {
      token: `tok-${++this.hub.tokens}`,
      expiresAt: now + TOKEN_LIFETIME_MS,
      lifetimeMs: TOKEN_LIFETIME_MS,
      user: { userId: 'u-1', organization: org, organizations: ORGS },
    };
  }

  settingsSnapshot(): SettingsSnapshot {
    const { epoch, org, user } = this.hub;
    return structuredClone({ epoch, org, user });
  }

  /** `PATCH /v1/settings/user`: on the version the device names, or a 409 with the current document. */
  write(input: PushInput): PushAnswer {
    const { hub } = this;
    if (input.epoch !== hub.epoch || input.version !== hub.user.version)
      return { status: 'conflict', current: { epoch: hub.epoch, ...structuredClone(hub.user) } };
    hub.user = { version: hub.user.version + 1, settings: applyPatch(hub.user.settings, input.patch) };
    return { status: 'accepted', document: { epoch: hub.epoch, ...structuredClone(hub.user) } };
  }

  /** The socket of the current session, if one is open. */
  peer(): MemoryPeer | undefined {
    const latest = this.net.latest();
    return latest?.state === 'open' ? latest : undefined;
  }

  send(message: Outbound): void {
    this.peer()?.send(frame(message));
  }

  /** The hub answers what it answers by itself. Returns whether it read anything. */
  pump(): boolean {
    let read = false;
    for (const peer of this.net.peers) {
      let i = this.read.get(peer) ?? 0;
      for (; i < peer.received.length && peer.state === 'open'; i++) {
        read = true;
        this.answer(peer, JSON.parse(peer.received[i]!) as Sent);
      }
      this.read.set(peer, i);
    }
    return read;
  }

  private answer(peer: MemoryPeer, message: Sent): void {
    const { hub } = this;
    const now = wireNow();
    switch (message.type) {
      case 'connect':
        if (hub.refuseNextConnect) {
          hub.refuseNextConnect = false;
          return peer.close(4001, 'auth_failed');
        }
        if (hub.ignoreNextConnect) return void (hub.ignoreNextConnect = false);
        // A new session: the hub forgets the old one's memberships and subscription.
        Object.assign(hub, { joins: [], leaves: [], joined: new Set(), subscribed: false, sessions: hub.sessions + 1 });
        return peer.send(
          frame({
            type: 'connect_ack',
            session_id: `s${hub.sessions}`,
            heartbeat_interval_ms: 25_000,
            heartbeat_timeout_ms: 10_000,
            server_time: now,
            max_frame_bytes: 1 << 20,
          }),
        );
      case 'heartbeat':
        if (!hub.silent) peer.send(frame({ type: 'heartbeat_ack', seq: message.seq!, server_time: now }));
        return;
      case 'auth_refresh':
        if (hub.refuseNextRefresh) {
          hub.refuseNextRefresh = false;
          return peer.send(frame({ type: 'error', code: 'auth_failed', message: 'token refused', ref_id: message.id! }));
        }
        return peer.send(frame({ type: 'auth_refresh_ack', expires_at: now + TOKEN_LIFETIME_MS }));
      case 'settings_subscribe':
        hub.subscribed = true;
        return peer.send(
          frame({ type: 'settings_subscribed', epoch: hub.epoch, org_version: hub.org.version, user_version: hub.user.version }),
        );
      case 'channel_join':
        hub.joins.push(message.channel!);
        return;
      case 'channel_leave':
        hub.leaves.push(message.channel!);
        return;
    }
  }

  /** Lets promises and socket callbacks run, and the hub answer, until nothing moves. */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (!this.pump()) return;
    }
  }

  /** The test answers the joins waiting at the hub. */
  answerJoins(): void {
    for (const channel of this.hub.joins.splice(0)) {
      this.hub.joined.add(channel);
      this.send({ type: 'channel_joined', channel, epoch: 'e1', offset: this.hub.offsets[channel] ?? 0, recovery: 'none' });
    }
  }

  refuseJoin(): void {
    const channel = this.hub.joins.shift();
    if (channel) this.send({ type: 'channel_refused', channel, reason: 'unauthorized', message: 'not yours' });
  }

  answerLeaves(): void {
    for (const channel of this.hub.leaves.splice(0)) {
      this.hub.joined.delete(channel);
      this.send({ type: 'channel_left', channel });
    }
  }

  /** A message on every channel joined on this session. */
  channelMessages(): void {
    for (const channel of this.hub.joined) {
      const offset = (this.hub.offsets[channel] ?? 0) + 1;
      this.hub.offsets[channel] = offset;
      this.send({ type: 'channel_message', channel, event: 'update', payload: { offset }, offset });
    }
  }

  /** An operator changes the org document: pushed to a subscribed session. */
  orgChange(value: number): void {
    const { hub } = this;
    hub.org = { version: hub.org.version + 1, settings: { ...hub.org.settings, a: value } };
    if (hub.subscribed)
      this.send({ type: 'settings_patch', epoch: hub.epoch, document: 'org', version: hub.org.version, patch: { a: value } });
  }
}
