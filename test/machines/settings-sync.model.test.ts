import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { type AnyActorRef, type AnyEventObject, createActor, createMachine, fromPromise, SimulatedClock } from 'xstate';
import { z } from 'zod';
import {
  type PushAnswer,
  type PushInput,
  SettingsPolicy,
  settingsStateName,
  settingsSyncMachine,
} from '../../src/machines/settings-sync.ts';
import {
  applyPatch,
  changedKeys,
  effectiveSettings,
  type SettingsPatch,
  type SettingsValues,
} from '../../src/protocol/settings-document.ts';
import type { SettingsConflict } from '../../src/machines/settings-rebase.ts';
import {
  emptySettingsState,
  knownVersion,
  localUserSettings,
  type SettingsState,
  type ValidateSettings,
} from '../../src/machines/settings-sync-state.ts';
import { CommandNames, commandOptions, modelRunParameters } from '../support/model-run.ts';
import { createTransitionCoverage } from '../support/transition-coverage.ts';

const policy = SettingsPolicy.parse({
  subscribeTimeoutMs: 5_000,
  retryBaseMs: 500,
  retryCapMs: 4_000,
  pollAfterMs: 60_000,
  pollIntervalMs: 120_000,
});
const coverage = createTransitionCoverage(settingsSyncMachine, 'settings', 'settings-sync');

// The host's schema: every setting a digit. An operator writing 99 makes a document the device refuses.
const schema = z.record(z.string(), z.number().int().min(0).max(9));
const validate: ValidateSettings = (settings) => {
  const parsed = schema.safeParse(settings);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) };
};
const defaults = { a: 0 };
const valid = (user: SettingsValues, org: SettingsValues) => validate(effectiveSettings(defaults, user, org)).ok;

type Doc = { version: number; settings: SettingsValues };
type Deferred<T> = { resolve: (value: T) => void; reject: (error: Error) => void };

/** The hub as the protocol describes it: versioned documents, pushes to a subscribed session, 409s. */
class ModelHub {
  epoch = 'e1';
  org: Doc = { version: 0, settings: {} };
  user: Doc = { version: 0, settings: {} };
  subscribed = false;
  /** Frames on their way to the device, in order; a dropped link loses them. */
  wire: AnyEventObject[] = [];
  fetches: Array<Deferred<unknown>> = [];
  pushes: Array<Deferred<PushAnswer> & { input: PushInput }> = [];
  /** Every value each user key had, with the step it was set at. */
  userLog: Array<{ step: number; key: string; value: unknown }> = [];
  /** Accepted writes that changed something, per epoch and edit id (a hub that lost its store gets pending edits again). */
  writes = new Map<string, number>();
  /** What each key an edit wrote was at the hub just before. */
  priors = new Map<string, SettingsValues>();
  step = 0;

  change(kind: 'org' | 'user', patch: SettingsPatch): void {
    const doc = this[kind];
    const settings = applyPatch(doc.settings, patch);
    const keys = changedKeys(doc.settings, settings);
    if (keys.length === 0) return;
    this[kind] = { version: doc.version + 1, settings };
    if (kind === 'user') for (const key of keys) this.userLog.push({ step: this.step, key, value: settings[key] });
    const applied = Object.fromEntries(keys.map((key) => [key, settings[key] ?? null]));
    if (this.subscribed)
      this.wire.push(frame({ type: 'settings_patch', epoch: this.epoch, document: kind, version: doc.version + 1, patch: applied }));
  }

  /** `PATCH /v1/settings/user`; the edit id is its idempotency key. */
  write(input: PushInput): PushAnswer {
    // A write the hub already applied (its answer was lost) is answered again, not applied again.
    if (this.writes.has(`${this.epoch}/${input.editId}`)) return { status: 'accepted', document: { epoch: this.epoch, ...this.user } };
    if (input.epoch !== this.epoch || input.version !== this.user.version)
      return { status: 'conflict', current: { epoch: this.epoch, ...this.user } };
    const before = this.user.version;
    const prior = Object.fromEntries(Object.keys(input.patch).map((k) => [k, this.user.settings[k]]));
    this.change('user', input.patch);
    if (this.user.version !== before) this.priors.set(input.editId, prior);
    if (this.user.version !== before)
      this.writes.set(`${this.epoch}/${input.editId}`, (this.writes.get(`${this.epoch}/${input.editId}`) ?? 0) + 1);
    return { status: 'accepted', document: { epoch: this.epoch, ...this.user } };
  }

  /** Whether user key `key` was `value` at the hub at some moment between two steps. */
  held(key: string, value: unknown, from: number, to: number): boolean {
    const before = this.userLog.filter((e) => e.key === key && e.step <= from).at(-1);
    if ((before?.value ?? undefined) === value) return true;
    return this.userLog.some((e) => e.key === key && e.step > from && e.step <= to && e.value === value);
  }

  snapshot() {
    return { epoch: this.epoch, org: this.org, user: this.user };
  }
}

const frame = (message: Record<string, unknown>) => ({ type: 'frame', message: { v: 1, id: 'f', ts: 0, ...message } });

/** A settings actor under a recording parent, its HTTP answered by the model hub. */
function world(linkUp: boolean) {
  const clock = new SimulatedClock();
  const hub = new ModelHub();
  const out: AnyEventObject[] = [];
  const logic = settingsSyncMachine.provide({
    actors: {
      fetchSettings: fromPromise(() => new Promise((resolve, reject) => void hub.fetches.push({ resolve, reject }))) as never,
      pushEdit: fromPromise<PushAnswer, PushInput>(
        ({ input }) => new Promise((resolve, reject) => void hub.pushes.push({ resolve, reject, input })),
      ) as never,
    },
  });
  const w = {
    clock,
    hub,
    out,
    linkUp,
    /** The hub dropped the session and the device has not noticed yet. */
    stale: false,
    /** The last state the device saved: what a restart starts from. */
    saved: emptySettingsState() as SettingsState,
    settings: undefined as unknown as AnyActorRef,
    root: undefined as unknown as ReturnType<typeof createActor>,
    /** Starts (or restarts, from the saved cache) the actor. */
    boot() {
      w.root?.stop();
      const parent = createMachine({
        invoke: {
          id: 'settings',
          src: logic,
          input: { state: w.saved, linkUp: w.linkUp, remote: true, policy, defaults, validate, seed: 7 },
        },
        on: { '*': { actions: ({ event }) => void out.push(event) } },
      });
      w.root = createActor(parent, { clock, inspect: (e) => coverage.inspect(e) });
      w.root.start();
      w.settings = w.root.getSnapshot().children.settings!;
    },
    state: () => settingsStateName(w.settings.getSnapshot().value),
    context: () => w.settings.getSnapshot().context as { state: SettingsState },
  };
  w.boot();
  return w;
}
type World = ReturnType<typeof world>;

/** What the test remembers: the edits made, what the host saw when making each, and what was seen so far. */
interface Model {
  /** The step each edit finished at. */
  finishedAt: Map<string, number>;
  edits: Map<string, { patch: SettingsPatch; seen: SettingsValues; step: number }>;
  processed: number;
  lastVersions: { epoch: string | undefined; org: number; user: number };
}

/** Handles what the device sent since the last look: subscriptions and reports. */
function pump(m: Model, w: World): void {
  for (const event of w.out.slice(m.processed)) {
    if (event.type === 'settings.changed') {
      const state = event.state as SettingsState;
      // Versions in force never go back within an epoch.
      if (state.epoch === m.lastVersions.epoch) {
        expect(state.org.version).toBeGreaterThanOrEqual(m.lastVersions.org);
        expect(state.user.version).toBeGreaterThanOrEqual(m.lastVersions.user);
      }
      m.lastVersions = { epoch: state.epoch, org: state.org.version, user: state.user.version };
      w.saved = state;
    }
    if (event.type === 'settings.edit_done') m.finishedAt.set((event.edit as { id: string }).id, w.hub.step);
    if (event.type === 'settings.out' && event.message.type === 'settings_subscribe' && w.linkUp && !w.stale) {
      w.hub.subscribed = true;
      w.hub.wire.push(
        frame({ type: 'settings_subscribed', epoch: w.hub.epoch, org_version: w.hub.org.version, user_version: w.hub.user.version }),
      );
    }
  }
  m.processed = w.out.length;
}

const doneEvents = (w: World) =>
  w.out.filter((e) => e.type === 'settings.edit_done').map((e) => e.edit as { id: string; status: string; conflicts: SettingsConflict[] });

function check(m: Model, w: World): void {
  pump(m, w);
  expect(w.settings.getSnapshot().status).toBe('active');
  // An edit finishes once, and only an edit that was made.
  const done = doneEvents(w).map((e) => e.id);
  expect(new Set(done).size).toBe(done.length);
  for (const id of done) expect(m.edits.has(id)).toBe(true);
  // The hub applied no edit twice.
  for (const count of w.hub.writes.values()) expect(count).toBe(1);
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

class Command implements fc.AsyncCommand<Model, World> {
  constructor(
    readonly label: string,
    readonly apply: (m: Model, w: World) => void,
  ) {}
  check = () => true;
  async run(m: Model, w: World): Promise<void> {
    w.hub.step++;
    this.apply(m, w);
    await flush();
    check(m, w);
  }
  toString = () => this.label;
}

/** Every command, by the name a counterexample prints, so directed examples read as those lists. */
const names = new CommandNames<Command>();
const named = (label: string): Command => names.sequence(label)[0]!;
const cmd = (label: string, apply: (m: Model, w: World) => void): Command => names.add(label, new Command(label, apply));

const linkUp = cmd('link up', (_m, w) => {
  // A link that was up and comes up again is a new session: the old subscription went with it.
  w.hub.subscribed = false;
  w.hub.wire = [];
  w.linkUp = true;
  w.stale = false;
  w.settings.send({ type: 'link.up' });
});
const linkDown = cmd('link down', (_m, w) => {
  w.hub.subscribed = false;
  w.hub.wire = [];
  w.linkUp = false;
  w.stale = false;
  w.settings.send({ type: 'link.down' });
});
const deliver = cmd('socket: deliver a frame', (_m, w) => {
  const next = w.hub.wire.shift();
  if (next) w.settings.send(next);
});
const fetchDone = cmd('http: answer a fetch', (_m, w) => w.hub.fetches.shift()?.resolve(w.hub.snapshot()));
const fetchFails = cmd('http: a fetch fails', (_m, w) => w.hub.fetches.shift()?.reject(new Error('503')));
const pushDone = cmd('http: answer a write', (_m, w) => {
  const push = w.hub.pushes.shift();
  push?.resolve(w.hub.write(push.input));
});
for (const applied of [false, true]) {
  cmd(`http: a write fails${applied ? ' after the hub applied it' : ''}`, (_m, w) => {
    const push = w.hub.pushes.shift();
    if (push && applied) w.hub.write(push.input);
    push?.reject(new Error('socket hang up'));
  });
}
const pushFails = fc.boolean().map((applied) => named(`http: a write fails${applied ? ' after the hub applied it' : ''}`));
const KEYS = ['a', 'b', 'c'];
const DIGITS = [null, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
for (const k of KEYS) {
  for (const value of DIGITS) {
    cmd(`host: set ${k}=${value}`, (m, w) => {
      const id = `e${m.edits.size + 1}`;
      m.edits.set(id, { patch: { [k]: value }, seen: localUserSettings(w.context().state), step: w.hub.step });
      w.settings.send({ type: 'edit', id, patch: { [k]: value } });
    });
    cmd(`hub: user ${k}=${value} from elsewhere`, (_m, w) => w.hub.change('user', { [k]: value }));
  }
}
for (const k of ['a', 'x'])
  for (const value of [null, 1, 5, 99]) cmd(`operator: org ${k}=${value}`, (_m, w) => w.hub.change('org', { [k]: value }));
const key = fc.constantFrom(...KEYS);
const digit = fc.option(fc.integer({ min: 0, max: 9 }), { nil: null, freq: 4 });
const edit = fc.tuple(key, digit).map(([k, value]) => named(`host: set ${k}=${value}`));
const remoteUser = fc.tuple(key, digit).map(([k, value]) => named(`hub: user ${k}=${value} from elsewhere`));
const remoteOrg = fc
  .tuple(fc.constantFrom('a', 'x'), fc.option(fc.constantFrom(1, 5, 99), { nil: null }))
  .map(([k, value]) => named(`operator: org ${k}=${value}`));
const restart = cmd('device restarts from its cache', (_m, w) => {
  w.hub.subscribed = false;
  w.hub.wire = [];
  w.hub.fetches = [];
  // A write in flight when the process died may or may not have landed: here it did.
  for (const push of w.hub.pushes.splice(0)) w.hub.write(push.input);
  w.linkUp = false;
  w.stale = false;
  w.boot();
});
// A hub that lost its store is a hub that restarted: the session is dead, though the device may
// hear an HTTP answer before it notices (the next 'link down' or 'link up').
const hubReset = cmd('hub restarts without its settings store', (_m, w) => {
  w.stale = true;
  for (const key of Object.keys(w.hub.user.settings)) w.hub.userLog.push({ step: w.hub.step, key, value: undefined });
  w.hub.epoch = `e${w.hub.step}`;
  w.hub.org = { version: 0, settings: {} };
  w.hub.user = { version: 0, settings: {} };
  w.hub.subscribed = false;
  w.hub.wire = [];
});
const ADVANCES = [500, 5_000, 60_000, 120_000];
for (const ms of ADVANCES) cmd(`advance ${ms} ms`, (_m, w) => w.clock.increment(ms));
const advance = fc.constantFrom(...ADVANCES).map((ms) => named(`advance ${ms} ms`));

const weighted: Array<[fc.Arbitrary<Command>, number]> = [
  [fc.constant(linkUp), 3],
  [fc.constant(linkDown), 1],
  [fc.constant(deliver), 6],
  [fc.constant(fetchDone), 4],
  [fc.constant(fetchFails), 1],
  [fc.constant(pushDone), 4],
  [pushFails, 1],
  [edit, 4],
  [remoteUser, 2],
  [remoteOrg, 3],
  [fc.constant(restart), 1],
  [fc.constant(hubReset), 1],
  [advance, 2],
];
const commands = weighted.flatMap(([arbitrary, weight]) => Array.from({ length: weight }, () => arbitrary));

/** The link comes up and stays, every frame is delivered, every request answered. */
async function settle(m: Model, w: World): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (w.stale) await linkDown.run(m, w);
    if (!w.linkUp) await linkUp.run(m, w);
    const idle = w.hub.wire.length === 0 && w.hub.fetches.length === 0 && w.hub.pushes.length === 0;
    if (idle && w.state() === 'synced' && w.context().state.pending.length === 0) return;
    if (w.hub.wire.length > 0) await deliver.run(m, w);
    else if (w.hub.fetches.length > 0) await fetchDone.run(m, w);
    else if (w.hub.pushes.length > 0) await pushDone.run(m, w);
    else {
      w.clock.increment(policy.subscribeTimeoutMs + policy.retryCapMs);
      await flush();
      pump(m, w);
    }
  }
  throw new Error(`did not settle: ${w.state()}`);
}

/**
 * One run: the commands, then the link up and everything answered until the device is idle; the
 * checks after each step and at the end. Returns the world for a directed example to look into.
 */
async function scenario(up: boolean, cmds: Iterable<fc.AsyncCommand<Model, World>>): Promise<World> {
  const w = world(up);
  const m: Model = { finishedAt: new Map(), edits: new Map(), processed: 0, lastVersions: { epoch: undefined, org: 0, user: 0 } };
  await fc.asyncModelRun(() => ({ model: m, real: w }), cmds);
  await settle(m, w);
  check(m, w);
  const device = w.context().state;
  // Converged: the device knows the hub's versions, and runs its documents unless it refused them.
  expect(device.epoch).toBe(w.hub.epoch);
  expect(knownVersion(device, 'user')).toBe(w.hub.user.version);
  expect(knownVersion(device, 'org')).toBe(w.hub.org.version);
  if (valid(w.hub.user.settings, w.hub.org.settings)) {
    expect(device.user.settings).toEqual(w.hub.user.settings);
    expect(device.org.settings).toEqual(w.hub.org.settings);
  }
  // Every edit finished; each key of it reached the hub or came back as a conflict.
  const done = new Map(doneEvents(w).map((e) => [e.id, e]));
  for (const [id, made] of m.edits) {
    const finished = done.get(id);
    expect(finished, `edit ${id} never finished`).toBeDefined();
    for (const [k, value] of Object.entries(made.patch)) {
      const local = value ?? undefined;
      // Setting a key to what the host already saw changes nothing: there is nothing to lose.
      if (local === made.seen[k]) continue;
      const conflict = finished!.conflicts.find((c) => c.key === k);
      if (conflict) {
        // A real conflict: the hub's value is neither what the host saw nor what it set.
        expect(conflict.remote).not.toEqual(conflict.local);
        expect(conflict.remote).not.toEqual(made.seen[k]);
        // …and the hub really held it while the edit was pending (not a stale copy of it).
        expect(
          w.hub.held(k, conflict.remote, made.step, m.finishedAt.get(id)!),
          `edit ${id}: conflict on ${k} with a value the hub no longer held`,
        ).toBe(true);
        continue;
      }
      // Not lost: the hub held the value at some moment between the edit and its end.
      expect(w.hub.held(k, local, made.step, m.finishedAt.get(id)!), `edit ${id}: ${k}=${String(value)} lost`).toBe(true);
      // Written only over the value the host saw: a change made elsewhere is never overwritten silently.
      const prior = w.hub.priors.get(id);
      if (prior && Object.hasOwn(prior, k)) expect(prior[k], `edit ${id} overwrote ${k}`).toEqual(made.seen[k]);
    }
  }
  return w;
}

describe('settings-sync machine (model-based)', () => {
  afterAll(() => coverage.report());

  it('keeps versions moving forward, applies no edit twice, loses none, surfaces every same-key conflict, and converges', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.commands(commands, commandOptions({ maxCommands: 80, size: 'large' })),
        async (up, cmds) => void (await scenario(up, cmds)),
      ),
      // A gap while synced (found and shrunk by fast-check), so full coverage does not depend on the seed.
      {
        ...modelRunParameters('settings-sync', 150),
        examples: [
          [
            true,
            names.sequence(
              'host: set a=null',
              'socket: deliver a frame',
              'http: answer a fetch',
              'http: answer a write',
              'operator: org a=99',
              'operator: org a=null',
              'socket: deliver a frame',
              'socket: deliver a frame',
            ),
          ],
        ],
      },
    );
  });

  // Found by `npm run explore` (seed 1384998512), shrunk. The write of e1 fails while the hub's
  // user `a` goes 0, 1, absent; the device has heard of 0 and 1 only when the retry comes due.
  // Settled on that copy, both edits came back as conflicts with `a` = 1, which the hub had
  // dropped before e2 was even made.
  it('reports a conflict with the value the hub holds, not one its copy shows while newer changes are on their way', async () => {
    const w = await scenario(
      false,
      names.sequence(
        'host: set a=0',
        'link up',
        'operator: org a=1',
        'socket: deliver a frame',
        'http: answer a fetch',
        'hub: user a=0 from elsewhere',
        'hub: user a=1 from elsewhere',
        'http: a write fails',
        'hub: user a=null from elsewhere',
        'socket: deliver a frame',
        'host: set a=null',
        'socket: deliver a frame',
        'socket: deliver a frame',
        'advance 500 ms',
        'operator: org a=null',
      ),
    );
    // `a` is absent at the hub, as e1's base had it: e1 is written, then e2 on top of it.
    expect(doneEvents(w).map(({ id, status }) => ({ id, status }))).toEqual([
      { id: 'e1', status: 'accepted' },
      { id: 'e2', status: 'accepted' },
    ]);
  });

  // The same cause the other way (written for the fix, not found by exploring): the hub has `a`
  // at 1, then 2, before the host sets a = 1 on its copy without `a`. After a failed write the
  // device has heard of 1 only; settled on that copy, the edit was done without a write, and the
  // hub never held a = 1 while it was pending. Written on that copy, the 409 tells the truth.
  it('does not take an edit as done because a copy that newer changes have overtaken shows its value', async () => {
    const w = await scenario(
      true,
      names.sequence(
        'socket: deliver a frame',
        'socket: deliver a frame',
        'http: answer a fetch',
        'hub: user a=1 from elsewhere',
        'hub: user a=2 from elsewhere',
        'host: set a=1',
        'http: a write fails',
        'socket: deliver a frame',
        'advance 5000 ms',
      ),
    );
    expect(doneEvents(w)).toEqual([
      { id: 'e1', status: 'conflict', conflicts: [{ editId: 'e1', key: 'a', base: undefined, local: 1, remote: 2 }], version: 2 },
    ]);
  });

  it('covers every transition of the settings-sync machine', () => {
    expect(coverage.uncovered()).toEqual([]);
  });
});
