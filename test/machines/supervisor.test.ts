import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock, type SnapshotFrom } from 'xstate';
import { createSocketActor } from '../../src/actors/socket.ts';
import { SocketPort } from '../../src/actors/socket-port.ts';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import { defaultAuthPolicy } from '../../src/machines/auth.ts';
import { BackoffPolicy } from '../../src/machines/backoff.ts';
import { connectionMachine, connectionStateName } from '../../src/machines/connection.ts';
import { channelStateName } from '../../src/machines/channel.ts';
import { heartbeatMachine } from '../../src/machines/heartbeat.ts';
import { DeviceChannels } from '../../src/connector/channels.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { RestartPolicy, statusOf, type SupervisorEmitted, type SupervisorInput, supervisorMachine } from '../../src/machines/supervisor.ts';
import { SettingsPolicy, type settingsSyncMachine } from '../../src/machines/settings-sync.ts';
import { emptySettingsState, type SettingsState } from '../../src/machines/settings-sync-state.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { flush } from '../support/harness.ts';

/** Fails on its first `failures` calls, then behaves. */
function failing(failures: number, message = 'boom') {
  let left = failures;
  return (): void => {
    if (left > 0) {
      left--;
      throw new Error(message);
    }
  };
}

function supervisorFixture(
  overrides: {
    heartbeat?: typeof heartbeatMachine;
    connection?: typeof connectionMachine;
    settings?: SupervisorInput['settings'];
    linkPort?: boolean;
  } = {},
) {
  const clock = new SimulatedClock();
  const net = createMemoryNetwork();
  net.onConnection = (peer) => peer.accept();
  const codec = createCodec({ now: () => clock.now() });
  // Linked on session.up as the connector links it: data frames skip the machines.
  const port = new SocketPort();
  const socket = createSocketActor({ adapter: net.adapter, codec, port });
  const logic = supervisorMachine.provide({
    actors: {
      connection: (overrides.connection ?? connectionMachine).provide({ actors: { socket } }),
      heartbeat: overrides.heartbeat ?? heartbeatMachine,
    },
  });
  const now = () => clock.now();
  const actor = createActor(logic, {
    clock,
    input: {
      now,
      restartPolicy: RestartPolicy.parse({ maxRestarts: 3, windowMs: 60_000 }),
      heartbeat: { now },
      ...(overrides.settings && { settings: overrides.settings }),
      auth: { mode: 'static', staticGrant: { token: 't', expiresAt: undefined }, policy: defaultAuthPolicy, seed: 1, now },
      connection: {
        url: 'ws://hub.test/v1/connect',
        deviceId: 'dev-1',
        tenantId: 'local',
        policy: BackoffPolicy.parse({}),
        connectTimeoutMs: 10_000,
        closeTimeoutMs: 2_000,
        seed: 7,
        now,
      },
    },
  });
  const emitted: SupervisorEmitted[] = [];
  actor.on('*', (e) => void emitted.push(e));
  const dataFrames: Message[] = [];
  if (overrides.linkPort !== false) actor.on('session.up', () => void port.link((message) => dataFrames.push(message)));
  actor.on('session.down', () => port.unlink());
  const actorErrors: unknown[] = [];
  actor.subscribe({ error: (e) => void actorErrors.push(e) });
  actor.start();

  const frame = (m: Parameters<typeof codec.encode>[0]) => {
    const r = codec.encode(m);
    if (!r.ok) throw r.error;
    return r.value.frame;
  };
  const child = (name: 'connection' | 'heartbeat' | 'settings') => actor.getSnapshot().children[name];
  return {
    clock,
    net,
    actor,
    emitted,
    dataFrames,
    actorErrors,
    child,
    connection: () => connectionStateName(child('connection')!.getSnapshot().value),
    heartbeat: () => child('heartbeat')?.getSnapshot().value,
    /** Host connects; the hub accepts and acks with a 1 s heartbeat interval. */
    async connect() {
      actor.send({ type: 'connect' });
      await flush();
      net.latest()!.send(
        frame({
          type: 'connect_ack',
          session_id: 's',
          heartbeat_interval_ms: 1_000,
          heartbeat_timeout_ms: 500,
          server_time: 0,
          max_frame_bytes: 1 << 20,
        }),
      );
    },
    frame,
  };
}

describe('supervisor', () => {
  it('spawns connection and heartbeat by systemId and routes between them', async () => {
    const f = supervisorFixture();
    expect(f.actor.system.get('connection')).toBeDefined();
    expect(f.actor.system.get('heartbeat')).toBeDefined();
    await f.connect();
    expect(f.connection()).toBe('connected');
    expect(f.heartbeat()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
    f.clock.increment(1_000);
    await flush();
    const peer = f.net.latest()!;
    expect(JSON.parse(peer.received.at(-1)!)).toMatchObject({ type: 'heartbeat', seq: 1 });
    peer.send(f.frame({ type: 'heartbeat_ack', seq: 1, server_time: 0 }));
    expect(f.heartbeat()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
    // The hub goes silent: the heartbeat finds it and the connection drops the link.
    f.clock.increment(1_000);
    f.clock.increment(500);
    await flush();
    // The link was declared dead and retried at once: a second socket, the first one gone.
    expect(f.connection()).toBe('connecting');
    expect(f.net.peers).toHaveLength(2);
    expect(f.net.peers[0]!.state).toBe('closed');
    expect((f.child('connection')!.getSnapshot().context as { lastRetryImmediate: boolean }).lastRetryImmediate).toBe(true);
    expect(f.heartbeat()).toBe('idle');
  });

  it('keeps the link alive on a data frame that answers a heartbeat, though the frame skipped the machines', async () => {
    const f = supervisorFixture();
    await f.connect();
    f.clock.increment(1_000);
    await flush();
    const peer = f.net.latest()!;
    expect(JSON.parse(peer.received.at(-1)!)).toMatchObject({ type: 'heartbeat', seq: 1 });
    expect(f.heartbeat()).toEqual({ active: { beat: 'awaiting', wake: 'watching' } });
    // No heartbeat_ack, but an execution request: it goes to the runtime, and the heartbeat hears of it.
    peer.send(
      f.frame({
        type: 'execution_request',
        request_id: 'r1',
        job_type: 'tool',
        tool_name: 'echo',
        inputs: {},
        execution_context: {},
        seq: 1,
      }),
    );
    expect(f.dataFrames.map((m) => m.type)).toEqual(['execution_request']);
    expect(f.emitted.filter((e) => e.type === 'message')).toEqual([]);
    expect(f.heartbeat()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
    // Past the 500 ms timeout the link is still up.
    f.clock.increment(600);
    await flush();
    expect(f.connection()).toBe('connected');
  });

  it('emits inbound application frames to the host (the handshake stays inside the connection)', async () => {
    // No session linked to the port: the data frames take the machines' way too.
    const f = supervisorFixture({ linkPort: false });
    await f.connect();
    f.net.latest()!.send(
      f.frame({
        type: 'messaging_event',
        request_id: 'r1',
        channel: 'line',
        event_type: 'message',
        message: { text: 'hi' },
        user_id: 'u1',
      }),
    );
    const messages = f.emitted.filter((e) => e.type === 'message');
    expect(messages.map((e) => e.type === 'message' && e.message.type)).toEqual(['messaging_event']);
  });

  it('restarts a child that throws, and the new child picks up the live link', async () => {
    const f = supervisorFixture({ heartbeat: heartbeatMachine.provide({ actions: { startLink: failing(1) } }) });
    await f.connect();
    expect(f.emitted.filter((e) => e.type === 'child.restarted')).toEqual([{ type: 'child.restarted', child: 'heartbeat', error: 'boom' }]);
    expect(f.actor.getSnapshot().value).toBe('running');
    expect(f.heartbeat()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
    expect(f.connection()).toBe('connected');
    expect(f.actorErrors).toEqual([]);
  });

  it('restarts a failed connection and reconnects it because the host still wants it', async () => {
    const f = supervisorFixture({ connection: connectionMachine.provide({ actions: { notifyUp: failing(1, 'bad ack handling') } }) });
    await f.connect();
    expect(f.emitted.some((e) => e.type === 'child.restarted' && e.child === 'connection')).toBe(true);
    await flush();
    expect(f.net.peers).toHaveLength(2);
    expect(f.net.live()).toBe(1);
    expect(f.connection()).toBe('connecting');
  });

  it('degrades after R restarts within T, keeps the healthy children running, and does not crash', async () => {
    const f = supervisorFixture({ heartbeat: heartbeatMachine.provide({ actions: { startLink: failing(Infinity) } }) });
    await f.connect();
    // Each restarted heartbeat is handed the live link and throws again: a crash loop.
    expect(f.emitted.filter((e) => e.type === 'child.restarted')).toHaveLength(3);
    expect(f.actor.getSnapshot().value).toBe('degraded');
    expect(f.actor.getSnapshot().context.failure).toEqual({ child: 'heartbeat', error: 'boom' });
    expect(f.emitted.filter((e) => e.type === 'child.failed')).toEqual([{ type: 'child.failed', child: 'heartbeat', error: 'boom' }]);
    expect(f.child('heartbeat')).toBeUndefined();
    expect(f.connection()).toBe('connected');
    f.net.latest()!.send(f.frame({ type: 'heartbeat_ack', seq: 0, server_time: 0 }));
    expect(f.actorErrors).toEqual([]);
    expect(f.actor.getSnapshot().status).toBe('active');
  });

  it('counts restarts within the window only: a failure after it has passed is restarted, not degraded', async () => {
    const fault = { remaining: 3 };
    const startLink = () => {
      if (fault.remaining-- > 0) throw new Error('boom');
    };
    const f = supervisorFixture({ heartbeat: heartbeatMachine.provide({ actions: { startLink } }) });
    await f.connect();
    expect(f.emitted.filter((e) => e.type === 'child.restarted')).toHaveLength(3);
    expect(f.actor.getSnapshot().value).toBe('running');

    f.clock.increment(60_001); // the three restarts leave the window
    fault.remaining = 1;
    f.net.latest()!.drop(); // link down, then up again: the heartbeat is handed the new link and fails
    f.clock.increment(0);
    await flush();
    await f.connect();
    expect(f.emitted.filter((e) => e.type === 'child.restarted')).toHaveLength(4);
    expect(f.actor.getSnapshot().value).toBe('running');
    expect(f.actor.getSnapshot().context.restarts.heartbeat).toHaveLength(1);
  });

  it('recovers every child that is gone, including one that failed while degraded', async () => {
    const heartbeatFault = { on: true };
    const connectionFault = { on: false };
    const f = supervisorFixture({
      heartbeat: heartbeatMachine.provide({
        actions: {
          startLink: () => {
            if (heartbeatFault.on) throw new Error('heartbeat bug');
          },
        },
      }),
      connection: connectionMachine.provide({
        actions: {
          forwardFrame: () => {
            if (connectionFault.on) throw new Error('connection bug');
          },
        },
      }),
    });
    await f.connect();
    expect(f.actor.getSnapshot().value).toBe('degraded');
    connectionFault.on = true;
    f.net.latest()!.send(f.frame({ type: 'heartbeat_ack', seq: 0, server_time: 0 }));
    expect(f.child('connection')).toBeUndefined();
    expect(f.net.live()).toBe(0); // the dead connection's socket was reaped
    expect(f.actor.getSnapshot().context.failure?.child).toBe('heartbeat');

    heartbeatFault.on = false;
    connectionFault.on = false;
    f.actor.send({ type: 'recover' });
    expect(f.actor.getSnapshot().value).toBe('running');
    expect(f.child('heartbeat')).toBeDefined();
    await f.connect(); // the recovered connection reconnects because the host still wants it
    expect(f.connection()).toBe('connected');
    expect(f.heartbeat()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
  });

  it('recovers from degraded when the host asks', async () => {
    const startLink = failing(4);
    const f = supervisorFixture({ heartbeat: heartbeatMachine.provide({ actions: { startLink } }) });
    await f.connect();
    expect(f.actor.getSnapshot().value).toBe('degraded');
    f.actor.send({ type: 'recover' });
    expect(f.actor.getSnapshot().value).toBe('running');
    expect(f.heartbeat()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
    expect(f.actor.getSnapshot().context.failure).toBeUndefined();
  });
});

describe('supervisor channels', () => {
  const connectAck = {
    type: 'connect_ack',
    session_id: 's',
    heartbeat_interval_ms: 1_000,
    heartbeat_timeout_ms: 500,
    server_time: 0,
    max_frame_bytes: 1 << 20,
  } as const;
  const channelState = (f: ReturnType<typeof supervisorFixture>, name: string) => {
    const child = f.actor.getSnapshot().children[`channel.${name}`];
    return child ? channelStateName(child.getSnapshot().value) : 'gone';
  };
  const joinsSent = (f: ReturnType<typeof supervisorFixture>) =>
    f.net
      .latest()!
      .received.map((frame) => JSON.parse(frame) as { type: string })
      .filter((m) => m.type === 'channel_join').length;
  /** Connected, with `task:t1` joined through the hub's `channel_joined` (routed by `answer`). */
  async function joined(f: ReturnType<typeof supervisorFixture>, answer: (frame: string) => void) {
    await f.connect();
    await flush();
    f.actor.send({ type: 'channel.join', channel: 'task:t1' });
    await flush();
    expect(joinsSent(f)).toBe(1);
    answer(f.frame({ type: 'channel_joined', channel: 'task:t1', epoch: 'e', offset: 0, recovery: 'none' }));
    expect(channelState(f, 'task:t1')).toBe('joined');
  }

  it('rejoins a joined channel after the connection child is restarted', async () => {
    const fault = { on: false };
    // forwardFrame throws on demand (a bug in the connection machine); channel frames are routed by hand.
    const f = supervisorFixture({
      connection: connectionMachine.provide({
        actions: {
          forwardFrame: () => {
            if (fault.on) throw new Error('bug');
          },
        },
      }) as typeof connectionMachine,
    });
    await joined(f, (frame) => f.actor.send({ type: 'connection.frame', message: JSON.parse(frame) }));
    const firstPeer = f.net.latest()!;
    fault.on = true;
    firstPeer.send(f.frame({ type: 'heartbeat_ack', seq: 0, server_time: 0 })); // the connection child throws
    fault.on = false;
    await flush();
    expect(f.emitted.some((e) => e.type === 'child.restarted' && e.child === 'connection')).toBe(true);
    expect(f.net.latest()).not.toBe(firstPeer);
    f.net.latest()!.send(f.frame(connectAck)); // the new session is up: the hub forgot the old session's membership
    await flush();
    expect(f.emitted.filter((e) => e.type === 'session.up')).toHaveLength(2);
    // The dead connection took its session with it: the host and the channels are told.
    expect(f.emitted.filter((e) => e.type === 'session.down')).toHaveLength(1);
    // The channel is rejoined on the new session, once.
    expect(joinsSent(f)).toBe(1);
    expect(channelState(f, 'task:t1')).toBe('joining');
    expect(f.actorErrors).toEqual([]);
  });

  it('joins a channel again that the host wanted back while it was leaving', async () => {
    const f = supervisorFixture();
    await joined(f, (frame) => f.net.latest()!.send(frame));
    const channels = new DeviceChannels(f.actor, silentLogger(), () => {});
    channels.join('task:t1').leave();
    channels.join('task:t1'); // the host changes its mind while the leave is under way
    await flush();
    f.net.latest()!.send(f.frame({ type: 'channel_left', channel: 'task:t1' }));
    await flush();
    // The old actor left; the host still wants the channel, so a new one joins.
    expect(channelState(f, 'task:t1')).toBe('joining');
    expect(joinsSent(f)).toBe(2);
  });
});

describe('supervisor settings', () => {
  it('starts the settings child once its cache is loaded, routes the link and its frames, and restarts it from its last state', async () => {
    let throwOnce = false;
    const validate = (settings: Record<string, unknown>) => {
      if (throwOnce) {
        throwOnce = false;
        throw new Error('validator bug');
      }
      return { ok: true as const, value: settings };
    };
    const f = supervisorFixture({ settings: { remote: false, policy: SettingsPolicy.parse({}), defaults: {}, validate, seed: 3 } });
    expect(f.child('settings')).toBeUndefined();
    const cached: SettingsState = { ...emptySettingsState(), epoch: 'e1', org: { version: 2, settings: { theme: 'dark' } } };
    f.actor.send({ type: 'settings.load', state: cached });
    expect(f.actor.system.get('settings')).toBeDefined();
    await f.connect();
    await flush();
    const sent = () => f.net.latest()!.received.map((raw) => JSON.parse(raw) as { type: string });
    expect(sent().map((m) => m.type)).toContain('settings_subscribe');
    // The hub's versions are the cache's: synced without a fetch.
    f.net.latest()!.send(f.frame({ type: 'settings_subscribed', epoch: 'e1', org_version: 2, user_version: 0 }));
    await flush();
    expect(f.child('settings')!.getSnapshot().value).toEqual({ online: 'synced' });
    f.net.latest()!.send(f.frame({ type: 'settings_patch', epoch: 'e1', document: 'org', version: 3, patch: { max_tasks: 4 } }));
    await flush();
    expect(f.emitted.filter((e) => e.type === 'settings.changed').at(-1)).toMatchObject({
      state: { org: { version: 3, settings: { theme: 'dark', max_tasks: 4 } } },
    });

    throwOnce = true;
    f.net.latest()!.send(f.frame({ type: 'settings_patch', epoch: 'e1', document: 'org', version: 4, patch: { max_tasks: 5 } }));
    await flush();
    expect(f.emitted.find((e) => e.type === 'child.restarted')).toMatchObject({
      child: 'settings',
      error: expect.stringContaining('validator bug'),
    });
    // The new child starts from the last state the old one reported, on the live link.
    const restarted: SnapshotFrom<typeof settingsSyncMachine> = f.actor.system.get('settings')!.getSnapshot();
    expect(restarted.context.state.org).toEqual({ version: 3, settings: { theme: 'dark', max_tasks: 4 } });
    expect(restarted.value).toEqual({ online: 'subscribing' });
    expect(f.actorErrors).toEqual([]);
  });
});

describe('supervisor statusOf', () => {
  it('reports running, then degraded with the failure, then stopped', async () => {
    const f = supervisorFixture({ heartbeat: heartbeatMachine.provide({ actions: { startLink: failing(Infinity) } }) });
    expect(statusOf(f.actor.getSnapshot())).toEqual({ state: 'running', reason: 'started' });
    await f.connect();
    expect(statusOf(f.actor.getSnapshot())).toEqual({
      state: 'degraded',
      reason: 'child_failed',
      failure: { child: 'heartbeat', error: 'boom' },
    });
    f.actor.stop();
    expect(statusOf(f.actor.getSnapshot())).toMatchObject({ state: 'stopped', reason: 'stopped' });
  });
});
