import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { AnyActorRef } from 'xstate';
import { channelStateName } from '../../src/machines/channel.ts';
import { connectionStateName } from '../../src/machines/connection.ts';
import { type ChildName, supervisorMachine } from '../../src/machines/supervisor.ts';
import { emptySettingsState } from '../../src/machines/settings-sync-state.ts';
import type { FaultyChild } from '../support/child-faults.ts';
import { frame } from '../support/frames.ts';
import { CommandNames, commandOptions, modelRunParameters } from '../support/model-run.ts';
import { advanceOnTimeAsync, nextDue } from '../support/on-time-clock.ts';
import { faults, HEARTBEAT_WAKE_MS, RESTART, SITES, SupervisorWorld } from '../support/supervisor-world.ts';
import { createTransitionCoverage } from '../support/transition-coverage.ts';

/*
 * Model-based test of the supervisor with its real children (auth in user mode, connection on an
 * in-memory socket, heartbeat, settings sync, channels; support/supervisor-world.ts plays the
 * hub, the token endpoint and the settings API). Random interleavings of host calls, children
 * throwing (one-off, and bugs that throw every time until fixed), sockets dropped, closed and
 * refused, valid and invalid frames from the hub, and on-time clock advances. After every step:
 *   1. It never crashes: no actor error reaches the host, the supervisor stays active.
 *   2. Every child failure is one the test injected, and is handled by the R-in-T policy: within
 *      the budget (3 restarts of that child in 60 s) the child is restarted at once and the host
 *      told `child.restarted`; one more makes it `degraded` (told `child.failed` once), the child
 *      left stopped. Never more than 3 restarts of a child in any 60 s before a `recover`.
 *   3. Running, every child is alive; degraded, exactly the children that failed since are
 *      stopped and the healthy ones keep running; `recover` brings every missing child back.
 *   4. One link: never two live connection actors, never two live sockets, no socket without a
 *      connection child.
 *   5. One truth about the session: the supervisor holds one exactly while the connection is
 *      connected; the host saw `session.up` and `session.down` alternate and in step with it; the
 *      heartbeat runs exactly while it is up; the settings child and every channel know whether
 *      it is up (a restarted child learns it too).
 *   6. Channels: an actor exactly for each channel the host joined and has not left (or seen
 *      fail); one the host still wants is never leaving.
 *   7. The host's word holds: after `disconnect` the connection stays closed with no socket;
 *      while it wants the link, the connection (a restarted one too) is trying or connected;
 *      every `messaging_event` the hub sent on a live session reached the host once.
 * At the end (bugs fixed, the hub cooperating, `recover` if degraded, the host connecting): the
 * connection comes up, and every channel the host wants is joined again on the new session.
 * Runs: FC_RUNS (default 100), seed: FC_SEED (see support/model-run.ts); MODEL_DEBUG=1 traces the
 * steps. Directed examples reach every transition of the supervisor whatever the seed (fast-check
 * counts them among the runs, so FC_RUNS must be at least 6); the last test checks that they all ran.
 */

const coverage = createTransitionCoverage(supervisorMachine, 'supervisor');
type Core = ChildName;
const CHANNELS = ['task:a', 'task:b'] as const;

interface Model {
  state: 'running' | 'degraded';
  /** Restart times per child since the last `recover`, as the policy counts them. */
  restarts: Record<Core, number[]>;
  /** `child.restarted` and `child.failed` the host should have seen. */
  restarted: Record<Core, number>;
  failed: Core[];
  /** Children stopped while degraded. */
  down: Set<Core>;
  failures: Record<FaultyChild, number>;
  /** Restart times seen by the host since the last `recover` (checked against the budget on their own). */
  restartTimes: Record<Core, number[]>;
  wanted: boolean;
  settingsLoaded: boolean;
  /** Channel actors there should be: wanted, or leaving at the host's request. */
  channels: Map<string, 'wanted' | 'leaving'>;
  /** Channels that failed and are not reported to the host yet. */
  unreported: Set<string>;
  sessionUp: boolean;
  messagesSent: number;
  messagesReceived: number;
  seen: number;
}

const perChild = <T>(make: () => T): Record<Core, T> => ({ auth: make(), connection: make(), heartbeat: make(), settings: make() });
const initialModel = (): Model => ({
  state: 'running',
  restarts: perChild(() => []),
  restarted: perChild(() => 0),
  failed: [],
  down: new Set(),
  failures: { auth: 0, connection: 0, heartbeat: 0, settings: 0, channel: 0 },
  restartTimes: perChild(() => []),
  wanted: false,
  settingsLoaded: false,
  channels: new Map(),
  unreported: new Set(),
  sessionUp: false,
  messagesSent: 0,
  messagesReceived: 0,
  seen: 0,
});

const ref = (w: SupervisorWorld, id: string) => {
  const actor = (id.startsWith('channel.') ? w.actor.getSnapshot().children[id] : w.actor.system.get(id)) as AnyActorRef | undefined;
  return actor?.getSnapshot().status === 'active' ? actor : undefined;
};
const snapshotOf = (w: SupervisorWorld, id: string) =>
  ref(w, id)?.getSnapshot() as { value: unknown; context: Record<string, unknown> } | undefined;
const connectionState = (w: SupervisorWorld) => {
  const s = snapshotOf(w, 'connection');
  return s && connectionStateName(s.value);
};
const authState = (w: SupervisorWorld) => JSON.stringify(snapshotOf(w, 'auth')?.value);

/** Reads the journal since the last look: failures against the restart policy, and what the host was told. */
function observe(m: Model, w: SupervisorWorld): void {
  for (const entry of w.journal.slice(m.seen)) {
    if (entry.kind === 'handled') {
      expect(entry.value, `the supervisor crashed on ${entry.child}'s failure`).not.toBe('crashed');
      if (entry.child.startsWith('channel.')) {
        // Dropped at once, and reported to the host (emitted events follow the step).
        const channel = entry.child.slice('channel.'.length);
        expect(m.channels.delete(channel), `${channel} failed though the host never joined it`).toBe(true);
        m.failures.channel++;
        m.unreported.add(channel);
        continue;
      }
      const child = entry.child as Core;
      m.failures[child]++;
      if (m.state === 'degraded') {
        expect(entry.value).toBe('degraded');
        m.down.add(child);
        continue;
      }
      const recent = m.restarts[child].filter((t) => t > entry.at - RESTART.windowMs);
      if (recent.length < RESTART.maxRestarts) {
        expect(entry.value, `${child} not restarted within its budget`).toBe('running');
        m.restarts[child] = [...recent, entry.at];
        m.restarted[child]++;
      } else {
        expect(entry.value, `${child} restarted past its budget`).toBe('degraded');
        Object.assign(m, { state: 'degraded', down: new Set([child]) });
        m.failed.push(child);
      }
      continue;
    }
    const { event, at } = entry;
    if (event.type === 'session.up' || event.type === 'session.down') {
      expect(m.sessionUp, `${event.type} twice in a row`).toBe(event.type === 'session.down');
      m.sessionUp = event.type === 'session.up';
    } else if (event.type === 'message' && event.message.type === 'messaging_event') {
      m.messagesReceived++;
    } else if (event.type === 'channel.left') {
      expect(m.channels.get(event.channel), 'left a channel the host did not leave').toBe('leaving');
      m.channels.delete(event.channel);
    } else if (event.type === 'channel.failed') {
      expect(m.unreported.delete(event.channel), `${event.channel} reported failed twice`).toBe(true);
    } else if (event.type === 'child.restarted') {
      const times = m.restartTimes[event.child];
      times.push(at);
      expect(times.filter((t) => t > at - RESTART.windowMs).length, `${event.child} restarted too often`).toBeLessThanOrEqual(
        RESTART.maxRestarts,
      );
    }
  }
  m.seen = w.journal.length;
  expect([...m.unreported], 'channel failures not reported').toEqual([]);
}

function check(m: Model, w: SupervisorWorld): void {
  observe(m, w);
  expect(w.actorErrors).toEqual([]);
  const snapshot = w.actor.getSnapshot();
  expect(snapshot.status).toBe('active');
  expect(snapshot.value).toBe(m.state);
  const core: Core[] = ['auth', 'connection', 'heartbeat', ...(m.settingsLoaded ? (['settings'] as const) : [])];
  for (const child of core) expect(ref(w, child) !== undefined, `${child} alive`).toBe(!(m.state === 'degraded' && m.down.has(child)));
  const emitted = w.journal.flatMap((e) => (e.kind === 'emitted' ? [e.event] : []));
  for (const child of core)
    expect(emitted.filter((e) => e.type === 'child.restarted' && e.child === child).length, `${child} restarts told`).toBe(
      m.restarted[child],
    );
  expect(emitted.flatMap((e) => (e.type === 'child.failed' ? [e.child] : []))).toEqual(m.failed);
  expect(m.failures, 'a child failed without an injected fault').toEqual(faults.fired);
  // One link.
  expect(w.net.live(), 'two live sockets').toBeLessThanOrEqual(1);
  expect(w.connections.filter((c) => c.getSnapshot().status === 'active').length, 'two connection actors').toBeLessThanOrEqual(1);
  const connection = connectionState(w);
  if (connection === undefined) expect(w.net.live(), 'a socket outlived its connection').toBe(0);
  // One truth about the session.
  const up = snapshot.context.session !== undefined;
  expect(up, `session held while the connection is ${connection}`).toBe(connection === 'connected');
  expect(m.sessionUp, 'the host was told otherwise').toBe(up);
  const heartbeat = snapshotOf(w, 'heartbeat');
  const beating = (value: unknown) => (typeof value === 'object' ? 'active' : value);
  if (heartbeat) expect(beating(heartbeat.value), 'the heartbeat runs exactly while the session is up').toBe(up ? 'active' : 'idle');
  const settings = snapshotOf(w, 'settings');
  if (settings) expect(settings.context.linkUp).toBe(up);
  // Channels.
  const live = Object.keys(snapshot.children).filter((id) => id.startsWith('channel.') && ref(w, id));
  expect(live.map((id) => id.slice('channel.'.length)).sort()).toEqual([...m.channels.keys()].sort());
  for (const [channel, want] of m.channels) {
    const s = snapshotOf(w, `channel.${channel}`)!;
    expect(s.context.linkUp, `${channel} knows the link`).toBe(up);
    if (want === 'wanted') expect(['leaving', 'left']).not.toContain(channelStateName(s.value));
  }
  // The host's word.
  if (!m.wanted && connection !== undefined) {
    expect(['initialized', 'closed']).toContain(connection);
    expect(w.net.live()).toBe(0);
  }
  // …and a connection child (a restarted one too) is told to connect while the host wants it.
  if (m.wanted && connection !== undefined) expect(['initialized', 'closed'], 'the host wants the link').not.toContain(connection);
  expect(m.messagesReceived, 'messaging events lost or doubled').toBe(m.messagesSent);
}

class Command implements fc.AsyncCommand<Model, SupervisorWorld> {
  constructor(
    readonly label: string,
    readonly apply: (m: Model, w: SupervisorWorld) => void | Promise<void>,
    readonly applies: (m: Readonly<Model>) => boolean,
  ) {}
  check = (m: Readonly<Model>) => this.applies(m);
  async run(m: Model, w: SupervisorWorld): Promise<void> {
    if (process.env.MODEL_DEBUG)
      console.log(
        '  >',
        this.label,
        '| connection',
        connectionState(w),
        JSON.stringify(snapshotOf(w, 'connection')?.context.reason),
        '| auth',
        authState(w),
        '| t',
        w.clock.now() % 1e6,
      );
    await this.apply(m, w);
    await w.settle();
    check(m, w);
  }
  toString = () => this.label;
}

const names = new CommandNames<Command>();
const cmd = (label: string, apply: Command['apply'], applies: Command['applies'] = () => true) =>
  names.add(label, new Command(label, apply, applies));
const advance = (w: SupervisorWorld, ms: number) => advanceOnTimeAsync(w.clock, ms, () => w.settle());
/** Arms a one-off fault, does what hits it, and disarms it if nothing did (the child was not there, or not in that state). */
const oneOff = (site: string, trigger: (w: SupervisorWorld) => void | Promise<void>) => async (_m: Model, w: SupervisorWorld) => {
  faults.arm(site);
  await trigger(w);
  await w.settle();
  faults.disarm(site);
};

/** Ids of the host's edits and sends (unique within the test file, as the host's are). */
let ids = 0;

// ─── the host ───────────────────────────────────────────────────────────────────────────
const hostCalls = [
  cmd('host: connect', (m, w) => ((m.wanted = true), w.actor.send({ type: 'connect' }))),
  cmd('host: disconnect', (m, w) => ((m.wanted = false), w.actor.send({ type: 'disconnect' }))),
  cmd('host: send a message', (_m, w) => w.actor.send({ type: 'send', message: { type: 'ack', seq: 0 } })),
  cmd('host: send a raw frame', (_m, w) => w.actor.send({ type: 'send_frame', frame: frame({ type: 'ack', seq: 0 }) })),
  cmd('host: API call refused the token', (_m, w) => w.actor.send({ type: 'api.token_rejected' })),
  cmd('host: API call accepted the token', (_m, w) => w.actor.send({ type: 'api.token_accepted' })),
  cmd('host: recover', (m, w) => {
    if (m.state === 'degraded')
      Object.assign(m, { state: 'running', down: new Set(), restarts: perChild(() => []), restartTimes: perChild(() => []) });
    w.actor.send({ type: 'recover' });
  }),
];
const userCalls = [
  cmd('host: login', (_m, w) => w.actor.send({ type: 'login' })),
  cmd('host: cancel login', (_m, w) => w.actor.send({ type: 'cancel_login' })),
  cmd('host: logout', (_m, w) => w.actor.send({ type: 'logout' })),
  ...['org-a', 'org-b', 'org-zzz'].map((organization) =>
    cmd(`host: switch to ${organization}`, (_m, w) => w.actor.send({ type: 'switch_organization', organization })),
  ),
  cmd('user approves the login', (_m, w) => void (w.hub.loginApproved = true)),
  cmd('hub ends the user session', (_m, w) => void (w.hub.sessionValid = false)),
];
const settingsCalls = [
  cmd(
    'host: load settings',
    (m, w) => ((m.settingsLoaded = true), w.actor.send({ type: 'settings.load', state: emptySettingsState() })),
    (m) => !m.settingsLoaded,
  ),
  ...[1, 2, 3].map((a) => cmd(`host: edit a=${a}`, (_m, w) => w.actor.send({ type: 'settings.edit', id: `e${++ids}`, patch: { a } }))),
  ...[4, 99].map((a) => cmd(`operator sets org a=${a}`, (_m, w) => w.orgChange(a))),
  cmd(
    'another device sets user a=7',
    (_m, w) => void (w.hub.user = { version: w.hub.user.version + 1, settings: { ...w.hub.user.settings, a: 7 } }),
  ),
];
const channelCalls = CHANNELS.flatMap((channel) => [
  cmd(`host: join ${channel}`, (m, w) => {
    if (!m.channels.has(channel)) m.channels.set(channel, 'wanted');
    w.actor.send({ type: 'channel.join', channel });
  }),
  cmd(`host: leave ${channel}`, (m, w) => {
    if (m.channels.has(channel)) m.channels.set(channel, 'leaving');
    w.actor.send({ type: 'channel.leave', channel });
  }),
  cmd(`host: send on ${channel}`, (_m, w) => w.actor.send({ type: 'channel.send', channel, id: `s${++ids}`, event: 'note', payload: {} })),
]);

// ─── children failing ───────────────────────────────────────────────────────────────────
const failures = [
  cmd(
    'auth child throws',
    oneOff(SITES.auth, (w) => w.actor.send({ type: 'api.token_accepted' })),
  ),
  cmd(
    'connection child throws on a frame',
    oneOff(SITES.connectionFrame, (w) => w.send({ type: 'heartbeat_ack', seq: 0, server_time: 0 })),
  ),
  cmd(
    'heartbeat child throws at its next wake check',
    oneOff(SITES.heartbeatWake, (w) => advance(w, HEARTBEAT_WAKE_MS)),
  ),
  cmd(
    'settings child throws on an edit',
    oneOff(SITES.settings, (w) => w.actor.send({ type: 'settings.edit', id: 'boom', patch: { a: 5 } })),
  ),
  ...CHANNELS.map((channel) =>
    cmd(
      `${channel} child throws on a send`,
      oneOff(SITES.channel, (w) => w.actor.send({ type: 'channel.send', channel, id: 'boom', event: 'note', payload: {} })),
    ),
  ),
  cmd('bug: heartbeat throws on every link up', () => faults.arm(SITES.heartbeatLinkUp, Infinity)),
  cmd('bug: connection throws on every session up', () => faults.arm(SITES.connectionUp, Infinity)),
  cmd('bugs fixed', () => faults.disarmAll()),
];

// ─── the hub and the network ────────────────────────────────────────────────────────────
const hubActs = [
  cmd('network drops the socket', (_m, w) => w.peer()?.drop()),
  ...[
    [4001, 'auth failed'],
    [1012, 'restarting'],
    [4003, 'replaced'],
  ].map(([code, why]) => cmd(`hub closes ${code} (${why})`, (_m, w) => w.peer()?.close(code as number, String(why)))),
  cmd('hub refuses the next socket (error)', (_m, w) => void (w.hub.refuseNextSocket = true)),
  cmd('hub refuses the next token (4001 on connect)', (_m, w) => void (w.hub.refuseNextConnect = true)),
  cmd('hub ignores the next connect (no connect_ack)', (_m, w) => void (w.hub.ignoreNextConnect = true)),
  cmd('hub refuses the next in-band token refresh', (_m, w) => void (w.hub.refuseNextRefresh = true)),
  cmd('hub goes silent', (_m, w) => void (w.hub.silent = true)),
  cmd('hub answers heartbeats again', (_m, w) => void (w.hub.silent = false)),
  cmd('hub: messaging event', (m, w) => {
    if (connectionState(w) === 'connected') m.messagesSent++;
    w.send({
      type: 'messaging_event',
      request_id: `r${m.messagesSent}`,
      channel: 'line',
      event_type: 'message',
      message: { text: 'hi' },
      user_id: 'u1',
    } as never);
  }),
  cmd('hub: invalid frame', (_m, w) => w.peer()?.send('{"v":1,')),
  cmd('hub: frame of an unknown type', (_m, w) => w.peer()?.send(JSON.stringify({ v: 1, id: 'x', ts: 0, type: 'no_such_type' }))),
  cmd('hub: answers the joins', (_m, w) => w.answerJoins()),
  cmd('hub: refuses a join', (_m, w) => w.refuseJoin()),
  cmd('hub: answers the leaves', (_m, w) => w.answerLeaves()),
  cmd('hub: messages on joined channels', (_m, w) => w.channelMessages()),
];

// ─── time ───────────────────────────────────────────────────────────────────────────────
const clock = [
  ...[1_000, 10_000, 30_000].map((ms) => cmd(`advance ${ms}`, (_m, w) => advance(w, ms))),
  cmd('advance to the next timer', async (_m, w) => {
    const due = nextDue(w.clock);
    if (due !== undefined) await advance(w, Math.max(0, due - w.clock.now()));
  }),
];

// Weighted toward a live session (most of what the supervisor routes needs one) and toward
// failures and the clock (restarts counted against the window).
const weighted: Array<[Command[], number]> = [
  [names.sequence('host: connect'), 3],
  [hostCalls, 3],
  [userCalls, 1],
  [settingsCalls, 2],
  [channelCalls, 3],
  [failures, 3],
  [hubActs, 4],
  [clock, 4],
];
const commands = weighted.flatMap(([list, weight]) => Array.from({ length: weight }, () => fc.constantFrom(...list)));

const run = (m: Model, w: SupervisorWorld, name: string) => names.sequence(name)[0]!.run(m, w);
const sequence = names.sequence;

/** Bugs fixed, the hub cooperating, the host recovering and connecting: the link and the channels the host wants come back. */
async function eventually(m: Model, w: SupervisorWorld): Promise<void> {
  await run(m, w, 'bugs fixed');
  Object.assign(w.hub, {
    silent: false,
    refuseNextConnect: false,
    ignoreNextConnect: false,
    refuseNextSocket: false,
    refuseNextRefresh: false,
  });
  if (m.state === 'degraded') await run(m, w, 'host: recover');
  // Two refusals of the hub in a row are final by design (auth.ts): the device stays unauthorized.
  if (authState(w) === '"unauthorized"') {
    if (m.wanted) expect(connectionState(w), 'unauthorized: the connection gives up').toBe('failed');
    return;
  }
  if (!m.wanted) await run(m, w, 'host: connect');
  const wanted = () => [...m.channels].flatMap(([channel, want]) => (want === 'wanted' ? [channel] : []));
  const joined = () => wanted().every((channel) => channelStateName(snapshotOf(w, `channel.${channel}`)!.value) === 'joined');
  for (let i = 0; i < 200 && !(connectionState(w) === 'connected' && joined()); i++) {
    w.hub.loginApproved = true;
    if (authState(w) === '"loggedOut"') await run(m, w, 'host: login');
    if (connectionState(w) === 'failed') await run(m, w, 'host: connect');
    await run(m, w, 'hub: answers the joins');
    await run(m, w, 'advance to the next timer');
  }
  expect(connectionState(w), 'in the end, not connected').toBe('connected');
  for (const channel of wanted()) {
    expect(channelStateName(snapshotOf(w, `channel.${channel}`)!.value), `${channel} joined again`).toBe('joined');
    expect(w.hub.joined.has(channel), `${channel} joined on the new session`).toBe(true);
  }
}

describe('supervisor (model-based)', () => {
  afterAll(() => coverage.report());

  it('restarts within its budget then degrades, never crashes, keeps one link and one truth about the session, and brings back what the host wants', async () => {
    // Directed walks so that every transition runs whatever the seed (random runs add to them).
    const examples: Array<[Command[]]> = [
      // A connected life: channels, settings (pushed, refused, conflicting), heartbeats, a token
      // refresh, buffered sends expiring, a silent hub, a refused token, the host leaving.
      [
        sequence(
          'host: load settings',
          'host: connect',
          'host: join task:a',
          'hub: answers the joins',
          'hub: messages on joined channels',
          'hub: messaging event',
          'host: send a message',
          'host: send a raw frame',
          'host: edit a=1',
          'operator sets org a=99',
          'another device sets user a=7',
          'host: edit a=2',
          'host: join task:b',
          'hub: refuses a join',
          'host: send on task:b',
          'host: leave task:a',
          'hub: answers the leaves',
          'hub refuses the next in-band token refresh',
          'advance 30000',
          'advance 30000',
          'hub goes silent',
          'advance 30000',
          'host: API call refused the token',
          'host: API call accepted the token',
          'hub closes 4001 (auth failed)',
          'host: disconnect',
        ),
      ],
      // The user: switching organizations, logging out and in, and the hub refusing two tokens in a row.
      [
        sequence(
          'host: connect',
          'host: switch to org-b',
          'host: switch to org-zzz',
          'host: logout',
          'host: login',
          'host: cancel login',
          'host: login',
          'user approves the login',
          'advance 10000',
          'hub refuses the next token (4001 on connect)',
          'network drops the socket',
          'advance to the next timer',
          'hub refuses the next token (4001 on connect)',
          'advance 30000',
        ),
      ],
      // Auth fails past its budget; then every other child fails while degraded; recover.
      [
        sequence(
          'host: load settings',
          'host: connect',
          'host: join task:a',
          'auth child throws',
          'auth child throws',
          'auth child throws',
          'auth child throws',
          'heartbeat child throws at its next wake check',
          'connection child throws on a frame',
          'settings child throws on an edit',
          'task:a child throws on a send',
          'host: recover',
        ),
      ],
      // Crash loops: a connection that throws on every session up, a heartbeat on every link up.
      [sequence('bug: connection throws on every session up', 'host: connect', 'auth child throws', 'bugs fixed', 'host: recover')],
      [sequence('bug: heartbeat throws on every link up', 'host: connect')],
      // A data frame answers a heartbeat the hub left unanswered: it skips the machines, and the heartbeat hears of it.
      [sequence('host: connect', 'hub goes silent', 'advance 30000', 'hub: messaging event', 'advance 10000')],
      [
        sequence(
          'host: load settings',
          'settings child throws on an edit',
          'settings child throws on an edit',
          'settings child throws on an edit',
          'settings child throws on an edit',
        ),
      ],
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, commandOptions({ maxCommands: 40, size: 'large' })), async (cmds) => {
        const w = new SupervisorWorld((event) => coverage.inspect(event));
        const m = initialModel();
        try {
          await w.settle();
          check(m, w);
          await fc.asyncModelRun(() => ({ model: m, real: w }), cmds);
          await eventually(m, w);
        } finally {
          w.actor.stop();
        }
      }),
      { ...modelRunParameters('supervisor', 100), examples },
    );
  });

  it('covers every transition of the supervisor machine', () => {
    expect(coverage.uncovered()).toEqual([]);
  });
});
