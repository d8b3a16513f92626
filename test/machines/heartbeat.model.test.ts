import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type AnyEventObject, createActor, createMachine, SimulatedClock } from 'xstate';
import { heartbeatMachine } from '../../src/machines/heartbeat.ts';
import { CommandNames, commandOptions, modelRunParameters } from '../support/model-run.ts';
import { advanceOnTime } from '../support/on-time-clock.ts';
import { createTransitionCoverage } from '../support/transition-coverage.ts';

/*
 * Model-based test of the heartbeat machine: random interleavings of the link coming up (with
 * the hub's interval and timeout) and going down, clock advances (on time, and to the moments
 * that matter), the hub's acks (of the heartbeat outstanding, of an older one, of one never
 * sent), other inbound frames, process pauses (the event loop blocked: timers fire late), sleeps
 * (the wall clock jumps, the monotonic timers do not) and the wall clock set back (NTP). After
 * every step:
 *   1. At most one heartbeat is outstanding: one goes out only when the last was answered (any
 *      inbound frame) or the link started over; their seqs go up by one, so an old ack never
 *      matches a new heartbeat.
 *   2. Nothing is sent or reported while the link is down, nor after the link was reported dead
 *      until it comes up again.
 *   3. A heartbeat is never early: it goes an interval after the current interval began (the
 *      link coming up, or the hub answering the last heartbeat), exactly then unless paused.
 *   4. A dead link is reported in time: by interval + timeout after the current interval began
 *      (so within interval + timeout of its last proof of life); after a pause, within two more
 *      wake checks; after a sleep past the hub's tolerance, within one wake check of waking.
 *   5. No false alarm: `heartbeat_timeout` only when the heartbeat outstanding has had no frame
 *      for the whole timeout; `sleep_detected` only when the wall clock shows more than
 *      interval + timeout + one wake check since the interval began. So a link whose frames
 *      come less than a timeout apart is never reported dead, short of a sleep.
 *   6. The round trip is measured only from the ack of the heartbeat outstanding: the wall time
 *      since it went out, never negative (0 when the clock was set back meanwhile). Other frames
 *      leave it as it was.
 *   7. The state is the model's: idle while down, dead once reported, else awaiting exactly while
 *      a heartbeat is outstanding.
 * Runs: FC_RUNS (default 200), seed: FC_SEED (see support/model-run.ts). Directed examples reach
 * every transition whatever the seed (fast-check counts them among the runs); the last test
 * checks that they all ran.
 */

const START = 1_767_225_600_000;
const WAKE_MS = 1_000;
const coverage = createTransitionCoverage(heartbeatMachine, 'heartbeat');

type Stamped = { event: AnyEventObject; mono: number; wall: number };

/** A heartbeat actor under a parent that stamps what it sends with both clocks. */
function world() {
  const clock = new SimulatedClock();
  clock.set(START);
  const w = { clock, slept: 0, out: [] as Stamped[] };
  const wall = () => clock.now() + w.slept;
  const parent = createMachine({
    invoke: { id: 'heartbeat', src: heartbeatMachine, input: { now: wall, wakeCheckMs: WAKE_MS } },
    on: { '*': { actions: ({ event }) => void w.out.push({ event, mono: clock.now(), wall: wall() }) } },
  });
  const actor = createActor(parent, { clock, inspect: (e) => coverage.inspect(e) });
  actor.start();
  const heartbeat = actor.getSnapshot().children.heartbeat!;
  return { ...w, w, wall, heartbeat, context: () => heartbeat.getSnapshot().context as { seq: number; rttMs: number | undefined } };
}
type World = ReturnType<typeof world>;

interface Model {
  link: { intervalMs: number; timeoutMs: number } | undefined;
  dead: boolean;
  /** Start of the current interval: the link coming up, or the hub answering the heartbeat outstanding. */
  start: { mono: number; wall: number };
  outstanding: { seq: number; mono: number; wall: number } | undefined;
  lastSeq: number;
  /** Timers fired late (a pause) since the interval began. */
  paused: boolean;
  /** Wall time slept since the interval began. */
  drift: number;
  /** Monotonic time of the last pause's end or sleep since the interval began. */
  jumpedAt: number;
  rttMs: number | undefined;
  /** Events of `out` already checked. */
  seen: number;
}

const now = (w: World) => ({ mono: w.clock.now(), wall: w.wall() });
const newInterval = (m: Model, w: World) =>
  Object.assign(m, { start: now(w), outstanding: undefined, paused: false, drift: 0, jumpedAt: -Infinity });

/** The latest monotonic time by which a link that is up must have been reported dead (invariant 4). */
function deadline(m: Model): number {
  const { intervalMs: i, timeoutMs: t } = m.link!;
  const byTimers = m.paused ? Infinity : m.start.mono + i + t;
  const byWallClock = Math.max(m.start.mono + i + t + WAKE_MS - m.drift, m.jumpedAt) + WAKE_MS;
  return Math.min(byTimers, byWallClock);
}

/** Checks what the machine sent since the last look against the model, and moves the model on. */
function observe(m: Model, w: World): void {
  for (const { event, mono, wall } of w.out.slice(m.seen)) {
    expect(m.link, `${event.type} while the link is down`).toBeDefined();
    expect(m.dead, `${event.type} after the link was reported dead`).toBe(false);
    const { intervalMs: i, timeoutMs: t } = m.link!;
    if (event.type === 'heartbeat.send') {
      expect(m.outstanding, 'a second heartbeat while one is outstanding').toBeUndefined();
      expect(event.seq).toBe(m.lastSeq + 1);
      if (m.paused) expect(mono).toBeGreaterThanOrEqual(m.start.mono + i);
      else expect(mono).toBe(m.start.mono + i);
      m.outstanding = { seq: event.seq, mono, wall };
      m.lastSeq = event.seq;
    } else if (event.type === 'heartbeat.dead' && event.reason === 'heartbeat_timeout') {
      expect(m.outstanding, 'timed out with no heartbeat outstanding').toBeDefined();
      expect(mono - m.outstanding!.mono).toBeGreaterThanOrEqual(t);
      m.dead = true;
    } else if (event.type === 'heartbeat.dead' && event.reason === 'sleep_detected') {
      expect(wall - m.start.wall, 'sleep reported without the wall clock having jumped').toBeGreaterThan(i + t + WAKE_MS);
      m.dead = true;
    } else {
      expect.fail(`unexpected event ${JSON.stringify(event)}`);
    }
  }
  m.seen = w.out.length;
}

function check(m: Model, w: World): void {
  observe(m, w);
  expect(w.heartbeat.getSnapshot().status).toBe('active');
  const state = w.heartbeat.getSnapshot().value;
  if (!m.link) expect(state).toBe('idle');
  else if (m.dead) expect(state).toBe('dead');
  else {
    expect(state).toEqual({ active: { beat: m.outstanding ? 'awaiting' : 'waiting', wake: 'watching' } });
    expect(w.clock.now(), 'a dead link not reported in time').toBeLessThan(deadline(m));
  }
  expect(w.context().rttMs).toBe(m.rttMs);
  expect(m.rttMs ?? 0, 'a negative round trip').toBeGreaterThanOrEqual(0);
}

class Command implements fc.Command<Model, World> {
  constructor(
    readonly label: string,
    readonly apply: (m: Model, w: World) => void,
  ) {}
  check = () => true;
  run(m: Model, w: World): void {
    this.apply(m, w);
    check(m, w);
  }
  toString = () => this.label;
}

const names = new CommandNames<Command>();
const command = (label: string, apply: (m: Model, w: World) => void) => names.add(label, new Command(label, apply));
const up = (m: Model) => m.link !== undefined && !m.dead;

const links = [
  [1_000, 500],
  [5_000, 2_000],
  [25_000, 10_000],
].map(([intervalMs, timeoutMs]) =>
  command(`link up (interval ${intervalMs}, timeout ${timeoutMs})`, (m, w) => {
    m.link = { intervalMs: intervalMs!, timeoutMs: timeoutMs! };
    m.dead = false;
    newInterval(m, w);
    w.heartbeat.send({ type: 'link.up', intervalMs, timeoutMs });
  }),
);
const linkDown = command('link down', (m, w) => {
  Object.assign(m, { link: undefined, dead: false, outstanding: undefined });
  w.heartbeat.send({ type: 'link.down' });
});
const advances = [100, 999, 1_000, 5_000, 25_000].map((ms) => command(`advance ${ms}`, (_m, w) => advanceOnTime(w.clock, ms)));
/** Jumps (on time) to a moment the model knows: the next heartbeat, the ack deadline, just before it. */
const jumpTo = (label: string, target: (m: Model) => number | undefined) =>
  command(label, (m, w) => {
    const at = target(m);
    if (at !== undefined && at > w.clock.now()) advanceOnTime(w.clock, at - w.clock.now());
  });
const jumps = [
  jumpTo('advance to the next heartbeat', (m) => (up(m) && !m.outstanding ? m.start.mono + m.link!.intervalMs : undefined)),
  jumpTo('advance to the ack deadline', (m) => (up(m) && m.outstanding ? m.outstanding.mono + m.link!.timeoutMs : undefined)),
  jumpTo('advance to 1 ms before the ack deadline', (m) =>
    up(m) && m.outstanding ? m.outstanding.mono + m.link!.timeoutMs - 1 : undefined,
  ),
];
/** An inbound frame: a `heartbeat_ack` of `seq` (relative to the last heartbeat sent), or any other frame. */
const frame = (label: string, seqOffset: number | undefined) =>
  command(label, (m, w) => {
    const ackSeq = seqOffset === undefined ? undefined : m.lastSeq + seqOffset;
    if (up(m) && m.outstanding) {
      // The wall time since it went out; a clock set back meanwhile says nothing about it: 0.
      if (ackSeq === m.outstanding.seq) m.rttMs = Math.max(0, w.wall() - m.outstanding.wall);
      newInterval(m, w);
    }
    w.heartbeat.send({ type: 'activity', ...(ackSeq !== undefined && { ackSeq }) });
  });
const frames = [
  frame('hub acks the last heartbeat', 0),
  frame('hub acks an older heartbeat (seq - 1)', -1),
  frame('hub acks a heartbeat never sent (seq + 1)', 1),
  frame('hub sends another frame', undefined),
];
const sleeps = [9_000, 40_000, 3_600_000].map((ms) =>
  command(`sleep ${ms} (wall clock jumps, timers do not)`, (m, w) => {
    w.w.slept += ms;
    if (up(m)) Object.assign(m, { drift: m.drift + ms, jumpedAt: w.clock.now() });
  }),
);
// NTP stepping the clock back, or the user setting it: the wall clock goes back, timers do not.
const setBack = command('wall clock set back 60000', (m, w) => {
  w.w.slept -= 60_000;
  if (up(m)) Object.assign(m, { drift: m.drift - 60_000, jumpedAt: w.clock.now() });
});
const pauses = [3_000, 40_000].map((ms) =>
  command(`pause ${ms} (event loop blocked, timers fire late)`, (m, w) => {
    if (up(m)) Object.assign(m, { paused: true, jumpedAt: w.clock.now() + ms });
    w.clock.increment(ms);
  }),
);

const weighted: Array<[Command[], number]> = [
  [links, 2],
  [[linkDown], 1],
  [advances, 3],
  [jumps, 4],
  [frames, 4],
  [sleeps, 1],
  [[setBack], 1],
  [pauses, 1],
];
const commands = weighted.flatMap(([list, weight]) => Array.from({ length: weight }, () => fc.constantFrom(...list)));

const sequence = names.sequence;

describe('heartbeat machine (model-based)', () => {
  afterAll(() => coverage.report());

  it('keeps one heartbeat outstanding, reports a dead link in time and never a live one, measures RTT only from its ack', () => {
    // Every transition, whatever the seed: acked, answered by another frame, timed out, slept,
    // and the link coming up and going down from idle, active and dead.
    const examples: Array<[Command[]]> = [
      [
        sequence(
          'link up (interval 1000, timeout 500)',
          'advance to the next heartbeat',
          'hub acks the last heartbeat',
          'advance to the next heartbeat',
          'hub sends another frame',
          'advance to the next heartbeat',
          'advance to the ack deadline',
          'link up (interval 1000, timeout 500)',
          'link up (interval 5000, timeout 2000)',
          'advance 1000',
          'sleep 3600000 (wall clock jumps, timers do not)',
          'advance 1000',
          'link down',
          'link up (interval 25000, timeout 10000)',
          'link down',
        ),
      ],
      // A pause past the hub's tolerance while a heartbeat is outstanding; stale and unknown acks.
      [
        sequence(
          'link up (interval 5000, timeout 2000)',
          'advance to the next heartbeat',
          'hub acks an older heartbeat (seq - 1)',
          'advance to the next heartbeat',
          'hub acks a heartbeat never sent (seq + 1)',
          'advance to the next heartbeat',
          'pause 40000 (event loop blocked, timers fire late)',
          'link up (interval 1000, timeout 500)',
        ),
      ],
    ];
    fc.assert(
      fc.property(fc.commands(commands, commandOptions({ maxCommands: 50, size: 'large' })), (cmds) => {
        const w = world();
        const m: Model = {
          link: undefined,
          dead: false,
          start: now(w),
          outstanding: undefined,
          lastSeq: 0,
          paused: false,
          drift: 0,
          jumpedAt: -Infinity,
          rttMs: undefined,
          seen: 0,
        };
        fc.modelRun(() => ({ model: m, real: w }), cmds);
        // However it ended: a link that goes silent now is reported dead by its deadline.
        if (up(m)) {
          advanceOnTime(w.clock, deadline(m) - w.clock.now());
          observe(m, w);
          expect(m.dead, 'a silent link never reported dead').toBe(true);
        }
      }),
      { ...modelRunParameters('heartbeat', 200), examples },
    );
  });

  it('covers every transition of the heartbeat machine', () => {
    expect(coverage.uncovered()).toEqual([]);
  });
});
