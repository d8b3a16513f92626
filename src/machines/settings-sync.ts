import { assign, enqueueActions, fromPromise, sendParent, setup, type SnapshotFrom } from 'xstate';
import { z } from 'zod';
import type { MessageOf, Outbound } from '../protocol/messages.ts';
import {
  effectiveSettings,
  type SettingsDocument,
  type SettingsPatch,
  type SettingsSnapshot,
  type SettingsValues,
} from '../protocol/settings-document.ts';
import { baseOf, type SettingsConflict } from '../machines/settings-rebase.ts';
import {
  acceptHead,
  effectiveOf,
  type FinishedEdit,
  knownVersion,
  localUserSettings,
  offerPatch,
  offerSnapshot,
  rebaseQueue,
  type Rejection,
  type RemotePatch,
  type SettingsState,
  type ValidateSettings,
  writeOf,
} from '../machines/settings-sync-state.ts';
import { retryDelay } from '../util/backoff.ts';
import { nextRandom } from '../util/random.ts';

/** Settings sync timing. The socket pushes changes; HTTP polling is only for a long outage. */
export const SettingsPolicy = z.object({
  /** A `settings_subscribe` without an answer by then: fetch anyway. */
  subscribeTimeoutMs: z.number().int().positive().default(10_000),
  /** Retry of a failed fetch or write: full jitter from `retryBaseMs` doubling to `retryCapMs`. */
  retryBaseMs: z.number().int().positive().default(1_000),
  retryCapMs: z.number().int().positive().default(60_000),
  /** Without a session this long, fetch over HTTP (the socket may be blocked while HTTP works). */
  pollAfterMs: z.number().int().positive().default(300_000),
  /** Then again at this interval while the session stays down. */
  pollIntervalMs: z.number().int().positive().default(900_000),
});
export type SettingsPolicy = z.output<typeof SettingsPolicy>;

/** A document as the hub answers a write: with the epoch its version belongs to. */
export type EpochDocument = SettingsDocument & { epoch: string };

/**
 * A write of the user document: the edit's keys on top of `version` of `epoch` (a version alone
 * could match a different document of a hub that lost its store). `editId` is its idempotency key.
 */
export interface PushInput {
  editId: string;
  epoch: string | undefined;
  version: number;
  patch: SettingsPatch;
}

/** The hub's answer to a write of the user document. */
export type PushAnswer = { status: 'accepted'; document: EpochDocument } | { status: 'conflict'; current: EpochDocument };

export interface SettingsSyncInput {
  /** The cached state (empty on a first start). */
  state: SettingsState;
  /** Whether a session is up when the actor starts. */
  linkUp: boolean;
  /** Whether there is a hub to fetch from (false in standalone mode: the cache and local edits only). */
  remote: boolean;
  policy: SettingsPolicy;
  defaults: SettingsValues;
  validate: ValidateSettings;
  seed: number;
}

export type SettingsReason =
  | 'link_down'
  | 'subscribing'
  | 'subscribe_timeout'
  | 'fetching'
  | 'fetch_failed'
  | 'gap'
  | 'synced'
  | 'pushing'
  | 'push_failed'
  | 'conflict'
  | 'polled'
  | 'poll_failed';

export interface SettingsSyncContext extends Omit<SettingsSyncInput, 'seed' | 'linkUp'> {
  rng: number;
  linkUp: boolean;
  /** Patches pushed while a fetch is out: applied after it, when newer than what it brought. */
  buffered: RemotePatch[];
  /** The user document of the hub's last 409: the next write goes on top of it. */
  pushBase: EpochDocument | undefined;
  /** Failed fetches or writes in a row; sizes the backoff. */
  failures: number;
  retryInMs: number | undefined;
  reason: SettingsReason;
}

export type SettingsSyncEvent =
  | { type: 'link.up' }
  | { type: 'link.down' }
  | { type: 'frame'; message: MessageOf<'settings_subscribed' | 'settings_patch'> }
  /** A local change of the user document (validated by the caller). */
  | { type: 'edit'; id: string; patch: SettingsPatch };

/** What the settings-sync machine tells its parent. */
export type SettingsSyncOutput =
  | { type: 'settings.out'; message: Outbound<'settings_subscribe' | 'settings_reported'> }
  /** The state changed: persist it; `effective` is the host schema's parsed value. */
  | { type: 'settings.changed'; state: SettingsState; effective: unknown }
  | { type: 'settings.rejected'; rejection: Rejection }
  | { type: 'settings.conflict'; conflicts: SettingsConflict[] }
  | { type: 'settings.edit_done'; edit: FinishedEdit };

const patchOf = (event: SettingsSyncEvent): RemotePatch | undefined =>
  event.type === 'frame' && event.message.type === 'settings_patch' ? event.message : undefined;
const subscribedOf = (event: SettingsSyncEvent) =>
  event.type === 'frame' && event.message.type === 'settings_subscribed' ? event.message : undefined;

/**
 * The user document as the hub has it, as far as the machine knows: the one a 409 brought, while
 * it is newer than the one in force (pushes may have overtaken it), else the one in force.
 */
function hubUserDocument(context: SettingsSyncContext): SettingsDocument & { epoch: string | undefined } {
  const { pushBase, state } = context;
  if (pushBase && pushBase.epoch === state.epoch && pushBase.version > state.user.version) return pushBase;
  return { ...state.user, epoch: state.epoch };
}

/** What an action may enqueue, as {@link publish} uses it. */
interface Enqueue {
  assign(values: Partial<SettingsSyncContext>): void;
  sendParent(event: SettingsSyncOutput): void;
}

/**
 * The one place state changes: stored, announced to the parent (to persist and to publish), and
 * reported to the hub when a session is up.
 */
function publish(
  context: SettingsSyncContext,
  enqueue: Enqueue,
  params: { state: SettingsState; report?: boolean; rejection?: Rejection; announce?: boolean },
): void {
  const { state } = params;
  if (params.announce !== false) {
    enqueue.assign({ state });
    const effective = effectiveOf(state, context.defaults, context.validate);
    // The state only ever holds documents that passed, so this fails only for a bad default.
    if (effective.ok) enqueue.sendParent({ type: 'settings.changed', state, effective: effective.value });
  }
  if (params.rejection) enqueue.sendParent({ type: 'settings.rejected', rejection: params.rejection });
  if (!params.report || !context.linkUp) return;
  enqueue.sendParent({
    type: 'settings.out',
    message: {
      type: 'settings_reported',
      ...(state.epoch !== undefined && { epoch: state.epoch }),
      org_version: state.org.version,
      user_version: state.user.version,
      pending_edits: state.pending.length,
      settings: effectiveSettings(context.defaults, localUserSettings(state), state.org.settings),
      ...(params.rejection && { rejected: params.rejection }),
    },
  });
}

/**
 * The settings-sync machine, one actor under the supervisor. Online it follows the order Azure
 * IoT documents for device twins: subscribe, then fetch the full documents, then apply only the
 * patches newer than what the fetch brought; a gap in versions means a fetch. Local edits queue
 * (optimistic concurrency: each write names the version it was made on) and are replayed on a
 * 409 with a three-way merge on keys. Offline it serves the cache, and polls over HTTP after a
 * long outage. The state is the cache: every change goes to the parent in `settings.changed`.
 *
 * @example
 * const sync = createActor(settingsSyncMachine.provide({ actors: { fetchSettings, pushEdit } }), { input });
 */
export const settingsSyncMachine = setup({
  types: {
    context: {} as SettingsSyncContext,
    events: {} as SettingsSyncEvent,
    input: {} as SettingsSyncInput,
  },
  actors: {
    // The connector provides the HTTP ones (src/actors/settings-http.ts).
    fetchSettings: fromPromise<SettingsSnapshot>(() => Promise.reject(new Error('no hub to fetch settings from'))),
    pushEdit: fromPromise<PushAnswer, PushInput>(() => Promise.reject(new Error('no hub to write settings to'))),
  },
  delays: {
    subscribeTimeout: ({ context }) => context.policy.subscribeTimeoutMs,
    retryDelay: ({ context }) => context.retryInMs ?? 0,
    pollAfter: ({ context }) => context.policy.pollAfterMs,
    pollInterval: ({ context }) => context.policy.pollIntervalMs,
  },
  guards: {
    linkIsUp: ({ context }) => context.linkUp,
    canPoll: ({ context }) => context.remote,
    isPatch: ({ event }) => patchOf(event) !== undefined,
    isGap: ({ context, event }) => {
      const patch = patchOf(event);
      return patch !== undefined && offerPatch(context.state, patch, context.defaults, context.validate).kind === 'gap';
    },
    /** Subscribed at the versions we have (in our epoch): nothing to fetch. */
    upToDate: ({ context, event }) => {
      const answer = subscribedOf(event);
      return (
        answer !== undefined &&
        answer.epoch === context.state.epoch &&
        answer.org_version === knownVersion(context.state, 'org') &&
        answer.user_version === knownVersion(context.state, 'user')
      );
    },
    isSubscribed: ({ event }) => subscribedOf(event) !== undefined,
    nothingPending: ({ context }) => context.state.pending.length === 0,
    accepted: ({ event }) => (event as unknown as { output: PushAnswer }).output.status === 'accepted',
    /** A 409 from another epoch: the hub lost its store; start over with a full fetch. */
    newEpoch: ({ context, event }) => {
      const answer = (event as unknown as { output: PushAnswer }).output;
      return answer.status === 'conflict' && answer.current.epoch !== context.state.epoch;
    },
  },
  actions: {
    linkUp: assign({ linkUp: true }),
    linkDown: assign({ linkUp: false, buffered: [], pushBase: undefined, failures: 0 }),
    /** What belonged to the last session's subscription goes with it. */
    newSession: assign({ buffered: [], pushBase: undefined, failures: 0 }),
    setReason: assign((_, params: { reason: SettingsReason }) => ({ reason: params.reason })),
    sendSubscribe: sendParent({ type: 'settings.out', message: { type: 'settings_subscribe' } } satisfies SettingsSyncOutput),
    queueEdit: enqueueActions(({ context, event, enqueue }) => {
      const { id, patch } = event as Extract<SettingsSyncEvent, { type: 'edit' }>;
      // The base is the user document as the host saw it: with the earlier edits on top.
      const edit = { id, patch, base: baseOf(patch, localUserSettings(context.state)), conflicts: [] };
      publish(context, enqueue, { state: { ...context.state, pending: [...context.state.pending, edit] } });
    }),
    bufferPatch: assign(({ context, event }) => ({ buffered: [...context.buffered, patchOf(event)!] })),
    applyPatch: enqueueActions(({ context, event, enqueue }) => {
      const outcome = offerPatch(context.state, patchOf(event)!, context.defaults, context.validate);
      if (outcome.kind !== 'offered') return;
      publish(context, enqueue, { state: outcome.state, report: true, ...(outcome.rejection && { rejection: outcome.rejection }) });
    }),
    /** A fetch came back: take it, then the patches that came meanwhile and are newer. */
    takeSnapshot: enqueueActions(({ context, event, enqueue }) => {
      const snapshot = (event as unknown as { output: SettingsSnapshot }).output;
      let { state, rejections } = offerSnapshot(context.state, snapshot, context.defaults, context.validate);
      for (const patch of context.buffered) {
        const outcome = offerPatch(state, patch, context.defaults, context.validate);
        if (outcome.kind !== 'offered') continue;
        state = outcome.state;
        if (outcome.rejection) rejections = [...rejections, outcome.rejection];
      }
      enqueue.assign({ buffered: [], pushBase: undefined, failures: 0 });
      // Each refusal is told to the parent; the report to the hub names the last.
      for (const rejection of rejections.slice(0, -1))
        enqueue.sendParent({ type: 'settings.rejected', rejection } satisfies SettingsSyncOutput);
      const last = rejections.at(-1);
      publish(context, enqueue, { state, report: true, ...(last && { rejection: last }) });
    }),
    acceptHead: enqueueActions(({ context, event, enqueue }) => {
      const answer = (event as unknown as { output: Extract<PushAnswer, { status: 'accepted' }> }).output;
      const { state, finished, conflicts, rejection } = acceptHead(context.state, answer.document, context.defaults, context.validate);
      enqueue.assign({ pushBase: undefined, failures: 0 });
      if (conflicts.length > 0) enqueue.sendParent({ type: 'settings.conflict', conflicts } satisfies SettingsSyncOutput);
      if (finished) enqueue.sendParent({ type: 'settings.edit_done', edit: finished } satisfies SettingsSyncOutput);
      publish(context, enqueue, { state, report: true, ...(rejection && { rejection }) });
    }),
    /**
     * A 409 brought the hub's document: the queue is replayed on it (finished edits leave,
     * conflicts are reported), and the next write goes on top of it.
     */
    adoptConflict: enqueueActions(({ context, event, enqueue }) => {
      const pushBase = (event as unknown as { output: Extract<PushAnswer, { status: 'conflict' }> }).output.current;
      const { state, conflicts, finished } = rebaseQueue(context.state, hubUserDocument({ ...context, pushBase }));
      // A queue done with leaves no base for the next edit: it is made on the document in force.
      enqueue.assign({ pushBase: state.pending.length > 0 ? pushBase : undefined, reason: 'conflict', failures: 0 });
      if (conflicts.length > 0) enqueue.sendParent({ type: 'settings.conflict', conflicts } satisfies SettingsSyncOutput);
      for (const edit of finished) enqueue.sendParent({ type: 'settings.edit_done', edit } satisfies SettingsSyncOutput);
      // A head that only lost keys the hub already has needs no saving: replaying it again is harmless.
      if (finished.length > 0 || conflicts.length > 0) publish(context, enqueue, { state });
      else enqueue.assign({ state });
    }),
    scheduleRetry: assign(({ context }) => {
      const [random, rng] = nextRandom(context.rng);
      const failures = context.failures + 1;
      return {
        rng,
        failures,
        retryInMs: retryDelay({ baseMs: context.policy.retryBaseMs, capMs: context.policy.retryCapMs }, failures, random),
      };
    }),
    report: enqueueActions(({ context, enqueue }) => publish(context, enqueue, { state: context.state, report: true, announce: false })),
  },
}).createMachine({
  id: 'settings',
  context: ({ input }) => {
    const { seed, ...rest } = input;
    return { ...rest, rng: seed, buffered: [], pushBase: undefined, failures: 0, retryInMs: undefined, reason: 'link_down' };
  },
  initial: 'starting',
  // An edit is taken in every state; `synced` also starts writing it.
  on: { edit: { actions: 'queueEdit' } },
  states: {
    starting: {
      always: [{ guard: 'linkIsUp', target: 'online' }, { target: 'offline' }],
    },
    offline: {
      entry: { type: 'setReason', params: { reason: 'link_down' } },
      on: { 'link.up': { target: 'online', actions: 'linkUp' } },
      initial: 'waiting',
      states: {
        waiting: { after: { pollAfter: { guard: 'canPoll', target: 'polling' } } },
        polling: {
          invoke: {
            src: 'fetchSettings',
            onDone: { target: 'resting', actions: ['takeSnapshot', { type: 'setReason', params: { reason: 'polled' } }] },
            onError: { target: 'resting', actions: { type: 'setReason', params: { reason: 'poll_failed' } } },
          },
        },
        resting: { after: { pollInterval: 'polling' } },
      },
    },
    online: {
      on: { 'link.down': { target: 'offline', actions: 'linkDown' } },
      initial: 'subscribing',
      states: {
        subscribing: {
          entry: ['sendSubscribe', { type: 'setReason', params: { reason: 'subscribing' } }],
          after: { subscribeTimeout: { target: 'fetching', actions: { type: 'setReason', params: { reason: 'subscribe_timeout' } } } },
          on: {
            frame: [
              { guard: 'upToDate', target: 'pushing', actions: 'report' },
              { guard: 'isSubscribed', target: 'fetching' },
            ],
            // A new session without word of the old one ending: subscribe on it.
            'link.up': { target: 'subscribing', reenter: true, actions: 'newSession' },
          },
        },
        fetching: {
          entry: { type: 'setReason', params: { reason: 'fetching' } },
          invoke: {
            src: 'fetchSettings',
            onDone: { target: 'pushing', actions: 'takeSnapshot' },
            onError: { target: 'retrying', actions: { type: 'setReason', params: { reason: 'fetch_failed' } } },
          },
          on: {
            frame: { guard: 'isPatch', actions: 'bufferPatch' },
            'link.up': { target: '#settings.online.subscribing', actions: 'newSession' },
          },
        },
        retrying: {
          entry: 'scheduleRetry',
          after: { retryDelay: 'fetching' },
          on: {
            frame: { guard: 'isPatch', actions: 'bufferPatch' },
            'link.up': { target: '#settings.online.subscribing', actions: 'newSession' },
          },
        },
        synced: {
          entry: { type: 'setReason', params: { reason: 'synced' } },
          on: {
            frame: [
              { guard: 'isGap', target: 'fetching', actions: { type: 'setReason', params: { reason: 'gap' } } },
              { guard: 'isPatch', actions: 'applyPatch' },
            ],
            edit: { target: 'pushing', actions: 'queueEdit' },
            'link.up': { target: '#settings.online.subscribing', actions: 'newSession' },
          },
        },
        pushing: {
          initial: 'next',
          on: {
            frame: [
              { guard: 'isGap', target: 'fetching', actions: { type: 'setReason', params: { reason: 'gap' } } },
              { guard: 'isPatch', actions: 'applyPatch' },
            ],
            'link.up': { target: '#settings.online.subscribing', actions: 'newSession' },
          },
          states: {
            next: {
              always: [{ guard: 'nothingPending', target: '#settings.online.synced' }, { target: 'sending' }],
            },
            sending: {
              entry: { type: 'setReason', params: { reason: 'pushing' } },
              invoke: {
                src: 'pushEdit',
                // Written on the latest document the device heard of, even with nothing left to
                // write: only the hub's answer says whether that document is still its own.
                input: ({ context }): PushInput => {
                  const base = hubUserDocument(context);
                  return {
                    editId: context.state.pending[0]!.id,
                    epoch: base.epoch,
                    version: base.version,
                    patch: writeOf(context.state, base),
                  };
                },
                onDone: [
                  { guard: 'accepted', target: 'next', actions: 'acceptHead' },
                  { guard: 'newEpoch', target: '#settings.online.fetching' },
                  { target: 'next', actions: 'adoptConflict' },
                ],
                onError: { target: 'waiting', actions: { type: 'setReason', params: { reason: 'push_failed' } } },
              },
            },
            waiting: {
              entry: 'scheduleRetry',
              after: { retryDelay: 'next' },
            },
          },
        },
      },
    },
  },
});

export type SettingsSyncMachine = typeof settingsSyncMachine;

/** The state as the host sees it. */
export type SettingsSyncStateName = 'offline' | 'polling' | 'subscribing' | 'fetching' | 'retrying' | 'synced' | 'pushing';

/** Reads the state name from a settings-sync snapshot value. */
export function settingsStateName(value: unknown): SettingsSyncStateName {
  if (value === 'starting') return 'offline';
  const [top, inner] = Object.entries(value as Record<string, unknown>)[0] ?? ['offline', 'waiting'];
  if (top === 'offline') return inner === 'polling' ? 'polling' : 'offline';
  return typeof inner === 'string' ? (inner as SettingsSyncStateName) : 'pushing';
}

/** The settings part of the connector status; `stopped` before the cache is loaded and for static settings. */
export interface SettingsStatus {
  state: SettingsSyncStateName | 'stopped';
  reason: string;
  /** Versions in force and local edits not yet at the hub. */
  orgVersion?: number;
  userVersion?: number;
  pendingEdits?: number;
  /** Delay before the next fetch or write, while retrying. */
  retryInMs?: number;
}

/** What the host sees of a running settings-sync machine (`ConnectorStatus.settings`). */
export function statusOf(snapshot: SnapshotFrom<SettingsSyncMachine>): SettingsStatus {
  const c = snapshot.context;
  const state = settingsStateName(snapshot.value);
  return {
    state,
    reason: c.reason,
    orgVersion: c.state.org.version,
    userVersion: c.state.user.version,
    pendingEdits: c.state.pending.length,
    ...(c.retryInMs !== undefined &&
      (state === 'retrying' || snapshot.matches({ online: { pushing: 'waiting' } })) && { retryInMs: c.retryInMs }),
  };
}
