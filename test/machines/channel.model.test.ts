import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type AnyEventObject, createActor, createMachine, SimulatedClock } from 'xstate';
import { ChannelPolicy, channelMachine, channelStateName } from '../../src/machines/channel.ts';
import { commandOptions, modelRunParameters } from '../support/model-run.ts';
import { createTransitionCoverage } from '../support/transition-coverage.ts';

const policy = ChannelPolicy.parse({
  joinTimeoutMs: 5_000,
  leaveTimeoutMs: 2_000,
  baseMs: 500,
  capMs: 8_000,
  bufferLimit: 3,
  bufferTtlMs: 20_000,
});
const coverage = createTransitionCoverage(channelMachine, 'channel');

/** A channel actor under a recording parent; the test plays the hub. */
function world(linkUp: boolean) {
  const clock = new SimulatedClock();
  clock.set(1_767_225_600_000);
  const out: AnyEventObject[] = [];
  const parent = createMachine({
    invoke: { id: 'channel', src: channelMachine, input: { channel: 'task:t1', linkUp, policy, seed: 7, now: () => clock.now() } },
    on: { '*': { actions: ({ event }) => void out.push(event) } },
  });
  const actor = createActor(parent, { clock, inspect: (e) => coverage.inspect(e) });
  actor.start();
  const channel = actor.getSnapshot().children.channel!;
  return {
    clock,
    out,
    channel,
    state: () => channelStateName(channel.getSnapshot().value),
    /** Join frames sent since index `from`. */
    joinsSince: (from: number) => out.slice(from).filter((e) => e.type === 'channel.out' && e.message.type === 'channel_join'),
  };
}
type World = ReturnType<typeof world>;

/** What the test remembers: the hub's offset, the sends made, and whether a leave was asked. */
interface Model {
  hubOffset: number;
  sends: number[];
  leaveAsked: boolean;
  linkUp: boolean;
  /** `out` index of the join in flight (sent while joining, not yet answered or abandoned). */
  joinAt: number | undefined;
}

/** Invariants checked after every command. */
function check(m: Model, w: World): void {
  // Never two joins in flight: while joining, exactly one join was sent since it began.
  if (w.state() === 'joining') {
    expect(m.joinAt).toBeDefined();
    expect(w.joinsSince(m.joinAt!)).toHaveLength(1);
  }
  // Handlers fire once per message: delivered offsets strictly increase.
  const offsets = w.out.filter((e) => e.type === 'channel.deliver').map((e) => e.offset as number);
  for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!);
  // Every send is sent (in order) or reported, never both, never twice.
  const sent = w.out
    .filter((e) => e.type === 'channel.out' && e.message.type === 'channel_message')
    .map((e) => e.message.payload.n as number);
  const reported = w.out
    .filter((e) => e.type === 'channel.expired')
    .flatMap((e) => (e.sends as Array<{ id: string }>).map((s) => Number(s.id)));
  expect([...sent].sort((a, b) => a - b)).toEqual(sent);
  expect(new Set([...sent, ...reported]).size).toBe(sent.length + reported.length);
  for (const n of [...sent, ...reported]) expect(m.sends).toContain(n);
  expect(w.channel.getSnapshot().status).toBe('active');
}

/** Keeps `joinAt` on the join in flight after a command ran. */
function track(m: Model, w: World, before: number): void {
  if (w.state() !== 'joining') m.joinAt = undefined;
  else if (w.joinsSince(before).length > 0)
    m.joinAt = before + w.out.slice(before).findIndex((e) => e.type === 'channel.out' && e.message.type === 'channel_join');
}

class Command implements fc.Command<Model, World> {
  constructor(
    readonly label: string,
    readonly apply: (m: Model, w: World) => void,
  ) {}
  check = () => true;
  run(m: Model, w: World): void {
    const before = w.out.length;
    this.apply(m, w);
    track(m, w, before);
    check(m, w);
  }
  toString = () => this.label;
}

const frame = (message: Record<string, unknown>) =>
  ({ type: 'frame', message: { v: 1, id: 'f', ts: 0, channel: 'task:t1', ...message } }) as never;

const linkUp = new Command('link up', (m, w) => ((m.linkUp = true), w.channel.send({ type: 'link.up' })));
const linkDown = new Command('link down', (m, w) => ((m.linkUp = false), w.channel.send({ type: 'link.down' })));
const joinedWith = (recovery: string) =>
  new Command(`hub: joined (${recovery})`, (m, w) =>
    w.channel.send(frame({ type: 'channel_joined', epoch: 'e1', offset: m.hubOffset, recovery })),
  );
const joined = fc.constantFrom('none', 'recovered', 'lost').map(joinedWith);
const refusedWith = (reason: string) =>
  new Command(`hub: refused (${reason})`, (_m, w) => w.channel.send(frame({ type: 'channel_refused', reason, message: reason })));
const refused = fc.constantFrom('unauthorized', 'unknown_channel').map(refusedWith);
const left = new Command('hub: left', (_m, w) => w.channel.send(frame({ type: 'channel_left' })));
const message = fc.integer({ min: 0, max: 2 }).map(
  (step) =>
    new Command(`hub: message +${step}`, (m, w) => {
      m.hubOffset += step;
      w.channel.send(frame({ type: 'channel_message', event: 'message', payload: {}, offset: Math.max(1, m.hubOffset) }));
    }),
);
const send = new Command('host: send', (m, w) => {
  const n = m.sends.length + 1;
  m.sends.push(n);
  w.channel.send({ type: 'send', id: String(n), event: 'task_event', payload: { n } });
});
const leave = new Command('host: leave', (m, w) => ((m.leaveAsked = true), w.channel.send({ type: 'leave' })));
const advanceBy = (ms: number) => new Command(`advance ${ms} ms`, (_m, w) => w.clock.increment(ms));
const advance = fc.constantFrom(100, 1_000, 5_000, 25_000).map(advanceBy);

// Weighted toward what moves a channel on (links coming up, joins answered, sends, messages), so
// joined channels with traffic are common and every transition is reached.
const weighted: Array<[fc.Arbitrary<Command>, number]> = [
  [fc.constant(linkUp), 4],
  [fc.constant(linkDown), 1],
  [joined, 4],
  [refused, 1],
  [fc.constant(left), 1],
  [message, 3],
  [fc.constant(send), 4],
  [fc.constant(leave), 1],
  [advance, 2],
];
const commands = weighted.flatMap(([arbitrary, weight]) => Array.from({ length: weight }, () => arbitrary));

describe('channel machine (model-based)', () => {
  afterAll(() => coverage.report());

  it('holds its invariants under random joins, leaves, sends, drops and refusals; a wanted channel ends up joined', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.commands(commands, commandOptions({ maxCommands: 40 })), (up, cmds) => {
        const w = world(up);
        const m: Model = { hubOffset: 1, sends: [], leaveAsked: false, linkUp: up, joinAt: undefined };
        track(m, w, 0); // a channel created on a live link joins at once
        fc.modelRun(() => ({ model: m, real: w }), cmds);
        // Settle: the link comes up and stays, the hub answers every join. Every wanted channel is joined.
        if (!m.linkUp) w.channel.send({ type: 'link.up' });
        for (let i = 0; i < 20 && !['joined', 'left'].includes(w.state()); i++) {
          if (w.state() === 'joining')
            w.channel.send(frame({ type: 'channel_joined', epoch: 'e1', offset: m.hubOffset, recovery: 'none' }));
          else w.clock.increment(10_000);
        }
        expect(w.state()).toBe(m.leaveAsked ? 'left' : 'joined');
        // Nothing is left waiting once joined (or left): sent or reported.
        w.clock.increment(policy.bufferTtlMs);
        const sent = w.out.filter((e) => e.type === 'channel.out' && e.message.type === 'channel_message').length;
        const reported = w.out.filter((e) => e.type === 'channel.expired').flatMap((e) => e.sends as unknown[]).length;
        expect(sent + reported).toBe(m.sends.length);
      }),
      // Directed walks (a leave from joined; a retry due while the link is down), so full
      // coverage does not depend on the seed.
      {
        ...modelRunParameters('channel', 200),
        examples: [
          [true, [joinedWith('none'), leave, left]],
          [true, [refusedWith('unknown_channel'), linkDown, advanceBy(25_000)]],
        ],
      },
    );
  });

  it('covers every transition of the channel machine', () => {
    expect(coverage.covered).toBe(coverage.total);
  });
});
