import { assign, enqueueActions, sendParent, setup, type SnapshotFrom, stateIn } from 'xstate';
import { z } from 'zod';
import type { MessageOf, Outbound } from '../protocol/messages.ts';
import { retryDelay } from '../util/backoff.ts';
import { nextRandom } from '../util/random.ts';

/** Channel policy: join timeout, rejoin backoff, and the buffer of sends made while not joined. */
export const ChannelPolicy = z.object({
  /** A join without `channel_joined` or `channel_refused` by then is retried. */
  joinTimeoutMs: z.number().int().positive().default(10_000),
  /** A leave without `channel_left` by then counts as done. */
  leaveTimeoutMs: z.number().int().positive().default(5_000),
  /** Rejoin backoff after a refusal or a timeout: full jitter from `baseMs` doubling to `capMs`. */
  baseMs: z.number().int().positive().default(1_000),
  capMs: z.number().int().positive().default(60_000),
  /** Sends waiting for the channel to be joined; one more is refused at once (reported expired). */
  bufferLimit: z.number().int().positive().default(100),
  /** A buffered send older than this is dropped and reported expired. */
  bufferTtlMs: z.number().int().positive().default(60_000),
});
export type ChannelPolicy = z.output<typeof ChannelPolicy>;

export interface ChannelInput {
  channel: string;
  workspaceId?: string;
  /** Whether a session is up when the channel is created. */
  linkUp: boolean;
  policy: ChannelPolicy;
  seed: number;
  now: () => number;
}

/** A send waiting for the channel to be joined. `id` is the sender's, to report it by. */
export interface BufferedSend {
  id: string;
  event: string;
  payload: Record<string, unknown>;
  at: number;
  /** A reliable send's sequence number (capability `channel_ack`): it goes out with its `id` and `seq`. */
  seq?: number;
}

export type ChannelReason =
  'link_down' | 'link_up' | 'join_sent' | 'joined' | 'refused' | 'join_timeout' | 'retry' | 'leave_requested' | 'left';

export interface ChannelContext extends Omit<ChannelInput, 'seed'> {
  rng: number;
  /** Failed joins in a row; sizes the backoff. */
  attempt: number;
  retryInMs: number | undefined;
  buffer: BufferedSend[];
  /** The hub's channel epoch and the last offset delivered: what a rejoin recovers from. */
  epoch: string | undefined;
  offset: number;
  reason: ChannelReason;
  refusal: { reason: string; message: string } | undefined;
}

export type ChannelEvent =
  | { type: 'link.up' }
  | { type: 'link.down' }
  /** `seq`: a reliable send, kept by the connector until the hub's `channel_ack` (src/delivery/channel-sends.ts). */
  | { type: 'send'; id: string; event: string; payload: Record<string, unknown>; seq?: number }
  | { type: 'leave' }
  | { type: 'frame'; message: MessageOf<'channel_joined' | 'channel_refused' | 'channel_left' | 'channel_message'> };

/** Events the channel machine sends to its parent. */
export type ChannelOutput =
  | { type: 'channel.out'; message: Outbound<'channel_join' | 'channel_leave' | 'channel_message'> }
  | { type: 'channel.deliver'; channel: string; event: string; payload: Record<string, unknown>; offset: number }
  | { type: 'channel.expired'; channel: string; sends: Array<{ id: string; event: string }> }
  /** Joined (again): `recovery` says whether what was missed follows (`recovered`) or is gone (`lost`: reload state). */
  | { type: 'channel.joined'; channel: string; recovery: 'none' | 'recovered' | 'lost' }
  | { type: 'channel.refused'; channel: string; reason: string; message: string }
  | { type: 'channel.left'; channel: string };

type ChannelFrame = Extract<ChannelEvent, { type: 'frame' }>['message'];
/** The frame of a send: a reliable one carries its own `id` (the hub drops a resend by it) and `seq`. */
function messageOf(
  channel: string,
  send: { id: string; event: string; payload: Record<string, unknown>; seq?: number },
): Outbound<'channel_message'> {
  const message: Outbound<'channel_message'> = { type: 'channel_message', channel, event: send.event, payload: send.payload };
  return send.seq === undefined ? message : { ...message, id: send.id, seq: send.seq };
}

function frameOf<K extends ChannelFrame['type']>(event: ChannelEvent, type: K): Extract<ChannelFrame, { type: K }> | undefined {
  return event.type === 'frame' && event.message.type === type ? (event.message as Extract<ChannelFrame, { type: K }>) : undefined;
}

/**
 * The channel machine: one actor per channel the host wants, under the supervisor. It joins when
 * a session is up and waits for the hub's answer; rejoins after every reconnect asking for what
 * it missed since its last offset; rejoins with jittered backoff after a refusal or a timeout;
 * and holds sends made while not joined in a bounded buffer with a TTL, sent in order once
 * joined, reported when they expire.
 *
 * Two parallel regions: `membership` (waiting, joining, joined, leaving, left, errored) and
 * `buffer` (empty, holding: a timer sweeps expired sends).
 *
 * @example
 * const channel = createActor(channelMachine, { input: { channel: 'task:t1', linkUp: true, policy: ChannelPolicy.parse({}), seed: 1, now: Date.now } });
 */
export const channelMachine = setup({
  types: {
    context: {} as ChannelContext,
    events: {} as ChannelEvent,
    input: {} as ChannelInput,
  },
  delays: {
    joinTimeout: ({ context }) => context.policy.joinTimeoutMs,
    leaveTimeout: ({ context }) => context.policy.leaveTimeoutMs,
    retryDelay: ({ context }) => context.retryInMs ?? 0,
    // Until the oldest buffered send expires.
    sweepDelay: ({ context }) => Math.max(0, (context.buffer[0]?.at ?? context.now()) + context.policy.bufferTtlMs - context.now()),
  },
  guards: {
    linkIsUp: ({ context }) => context.linkUp,
    isJoined: stateIn({ membership: 'joined' }),
    hasLeft: stateIn({ membership: 'left' }),
    joinedFrame: ({ event }) => frameOf(event, 'channel_joined') !== undefined,
    isRefused: ({ event }) => frameOf(event, 'channel_refused') !== undefined,
    isLeft: ({ event }) => frameOf(event, 'channel_left') !== undefined,
    isMessage: ({ event }) => frameOf(event, 'channel_message') !== undefined,
    bufferFull: ({ context }) => context.buffer.length >= context.policy.bufferLimit,
    bufferEmpty: ({ context }) => context.buffer.length === 0,
  },
  actions: {
    linkUp: assign({ linkUp: true }),
    linkDown: assign({ linkUp: false }),
    setReason: assign((_, params: { reason: ChannelReason }) => ({ reason: params.reason })),
    sendJoin: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ reason: 'join_sent' });
      enqueue.sendParent({
        type: 'channel.out',
        message: {
          type: 'channel_join',
          channel: context.channel,
          ...(context.workspaceId !== undefined && { workspace_id: context.workspaceId }),
          ...(context.epoch !== undefined && { recover: { epoch: context.epoch, offset: context.offset } }),
        },
      } satisfies ChannelOutput);
    }),
    sendLeave: sendParent(({ context }): ChannelOutput => ({
      type: 'channel.out',
      message: { type: 'channel_leave', channel: context.channel },
    })),
    /** The hub's `channel_joined`: where offsets stand, and whether what was missed follows. */
    storeJoin: enqueueActions(({ context, event, enqueue }) => {
      const joined = frameOf(event, 'channel_joined')!;
      const sameEpoch = joined.epoch === context.epoch;
      enqueue.assign({
        reason: 'joined',
        attempt: 0,
        refusal: undefined,
        epoch: joined.epoch,
        // Recovered: the replay follows and moves the offset. Otherwise start from the hub's latest.
        offset: joined.recovery === 'recovered' && sameEpoch ? context.offset : joined.offset,
      });
      enqueue.sendParent({ type: 'channel.joined', channel: context.channel, recovery: joined.recovery } satisfies ChannelOutput);
    }),
    recordRefusal: enqueueActions(({ context, event, enqueue }) => {
      const refused = frameOf(event, 'channel_refused')!;
      enqueue.assign({ reason: 'refused', refusal: { reason: refused.reason, message: refused.message } });
      enqueue.sendParent({
        type: 'channel.refused',
        channel: context.channel,
        reason: refused.reason,
        message: refused.message,
      } satisfies ChannelOutput);
    }),
    scheduleRetry: assign(({ context }) => {
      const [random, rng] = nextRandom(context.rng);
      const attempt = context.attempt + 1;
      return { rng, attempt, retryInMs: retryDelay(context.policy, attempt, random) };
    }),
    /** Inbound: delivered once per offset (a replay may overlap what was already delivered). */
    deliver: enqueueActions(({ context, event, enqueue }) => {
      const message = frameOf(event, 'channel_message')!;
      const offset = message.offset;
      if (offset !== undefined && offset <= context.offset) return;
      if (offset !== undefined) enqueue.assign({ offset });
      enqueue.sendParent({
        type: 'channel.deliver',
        channel: context.channel,
        event: message.event,
        payload: message.payload,
        offset: offset ?? 0,
      } satisfies ChannelOutput);
    }),
    sendNow: sendParent(({ context, event }): ChannelOutput => {
      const send = event as Extract<ChannelEvent, { type: 'send' }>;
      return { type: 'channel.out', message: messageOf(context.channel, send) };
    }),
    buffer: assign(({ context, event }) => {
      const send = event as Extract<ChannelEvent, { type: 'send' }>;
      return {
        buffer: [
          ...context.buffer,
          { id: send.id, event: send.event, payload: send.payload, at: context.now(), ...(send.seq !== undefined && { seq: send.seq }) },
        ],
      };
    }),
    refuseSend: sendParent(({ context, event }): ChannelOutput => {
      const send = event as Extract<ChannelEvent, { type: 'send' }>;
      return { type: 'channel.expired', channel: context.channel, sends: [{ id: send.id, event: send.event }] };
    }),
    /** Joined: what waited goes out, in order, minus what expired. */
    flush: enqueueActions(({ context, enqueue }) => {
      const cutoff = context.now() - context.policy.bufferTtlMs;
      const expired = context.buffer.filter((send) => send.at <= cutoff);
      if (expired.length > 0)
        enqueue.sendParent({
          type: 'channel.expired',
          channel: context.channel,
          sends: expired.map(({ id, event }) => ({ id, event })),
        } satisfies ChannelOutput);
      for (const send of context.buffer) {
        if (send.at <= cutoff) continue;
        enqueue.sendParent({ type: 'channel.out', message: messageOf(context.channel, send) } satisfies ChannelOutput);
      }
      enqueue.assign({ buffer: [] });
    }),
    sweep: enqueueActions(({ context, enqueue }) => {
      const cutoff = context.now() - context.policy.bufferTtlMs;
      const expired = context.buffer.filter((send) => send.at <= cutoff);
      if (expired.length === 0) return;
      enqueue.assign({ buffer: context.buffer.filter((send) => send.at > cutoff) });
      enqueue.sendParent({
        type: 'channel.expired',
        channel: context.channel,
        sends: expired.map(({ id, event }) => ({ id, event })),
      } satisfies ChannelOutput);
    }),
    /** Left: whatever still waits will never go out. */
    dropBuffer: enqueueActions(({ context, enqueue }) => {
      if (context.buffer.length > 0) {
        enqueue.sendParent({
          type: 'channel.expired',
          channel: context.channel,
          sends: context.buffer.map(({ id, event }) => ({ id, event })),
        } satisfies ChannelOutput);
      }
      enqueue.assign({ buffer: [] });
    }),
    notifyLeft: sendParent(({ context }): ChannelOutput => ({ type: 'channel.left', channel: context.channel })),
  },
}).createMachine({
  id: 'channel',
  type: 'parallel',
  context: ({ input }) => {
    const { seed, linkUp, ...rest } = input;
    return {
      ...rest,
      linkUp,
      rng: seed,
      attempt: 0,
      retryInMs: undefined,
      buffer: [],
      epoch: undefined,
      offset: 0,
      reason: 'link_down',
      refusal: undefined,
    };
  },
  states: {
    membership: {
      initial: 'starting',
      states: {
        starting: {
          always: [{ guard: 'linkIsUp', target: 'joining' }, { target: 'waiting' }],
        },
        waiting: {
          entry: { type: 'setReason', params: { reason: 'link_down' } },
          on: {
            'link.up': { target: 'joining', actions: 'linkUp' },
            leave: 'left',
          },
        },
        joining: {
          entry: 'sendJoin',
          after: { joinTimeout: { target: 'errored', actions: { type: 'setReason', params: { reason: 'join_timeout' } } } },
          on: {
            frame: [
              { guard: 'joinedFrame', target: 'joined', actions: 'storeJoin' },
              { guard: 'isRefused', target: 'errored', actions: 'recordRefusal' },
            ],
            'link.down': { target: 'waiting', actions: 'linkDown' },
            // A new session without word of the old one ending: the join went with the old one.
            'link.up': { target: 'joining', reenter: true, actions: 'linkUp' },
            // The hub handles the join, then the leave, in order.
            leave: 'leaving',
          },
        },
        joined: {
          entry: 'flush',
          on: {
            frame: { guard: 'isMessage', actions: 'deliver' },
            'link.down': { target: 'waiting', actions: 'linkDown' },
            // A new session without word of the old one ending: the membership went with the old one.
            'link.up': { target: 'joining', actions: 'linkUp' },
            leave: 'leaving',
          },
        },
        leaving: {
          entry: ['sendLeave', { type: 'setReason', params: { reason: 'leave_requested' } }],
          after: { leaveTimeout: 'left' },
          on: {
            frame: { guard: 'isLeft', target: 'left' },
            // The session went, and the membership with it.
            'link.down': { target: 'left', actions: 'linkDown' },
          },
        },
        left: {
          entry: [{ type: 'setReason', params: { reason: 'left' } }, 'dropBuffer', 'notifyLeft'],
          on: { 'link.up': { actions: 'linkUp' }, 'link.down': { actions: 'linkDown' } },
        },
        errored: {
          entry: 'scheduleRetry',
          after: {
            retryDelay: [
              { guard: 'linkIsUp', target: 'joining', actions: { type: 'setReason', params: { reason: 'retry' } } },
              { target: 'waiting' },
            ],
          },
          // XState takes no root handler for an event a state in another region handles, so each
          // state that does not change on the link still records it.
          on: { leave: 'left', 'link.up': { actions: 'linkUp' }, 'link.down': { actions: 'linkDown' } },
        },
      },
    },
    buffer: {
      initial: 'empty',
      states: {
        empty: {
          on: {
            send: [
              { guard: 'isJoined', actions: 'sendNow' },
              { guard: 'hasLeft', actions: 'refuseSend' },
              { target: 'holding', actions: 'buffer' },
            ],
          },
        },
        holding: {
          always: { guard: 'bufferEmpty', target: 'empty' },
          after: { sweepDelay: { target: 'holding', reenter: true, actions: 'sweep' } },
          // Never while joined: joining flushes the buffer, and this region goes back to `empty`.
          on: {
            send: [{ guard: 'bufferFull', actions: 'refuseSend' }, { actions: 'buffer' }],
          },
        },
      },
    },
  },
});

export type ChannelMachine = typeof channelMachine;

/** The membership state as the host sees it. */
export type ChannelStateName = 'waiting' | 'joining' | 'joined' | 'leaving' | 'left' | 'errored';

/** Reads the membership state from a channel snapshot value. */
export function channelStateName(value: unknown): ChannelStateName {
  const membership = (value as { membership?: string }).membership;
  return membership === 'starting' || membership === undefined ? 'waiting' : (membership as ChannelStateName);
}

/** What a channel actor is doing: its membership, why, and what it holds. */
export interface ChannelStatus {
  channel: string;
  state: ChannelStateName;
  reason: ChannelReason;
  /** Failed joins in a row. */
  attempt: number;
  /** Delay before the next join, while errored. */
  retryInMs?: number;
  /** Sends waiting for the channel to be joined. */
  buffered: number;
  /** The hub's refusal, after `channel_refused`. */
  refusal?: { reason: string; message: string };
}

/** What the host sees of a running channel machine. */
export function statusOf(snapshot: SnapshotFrom<ChannelMachine>): ChannelStatus {
  const c = snapshot.context;
  const state = channelStateName(snapshot.value);
  return {
    channel: c.channel,
    state,
    reason: c.reason,
    attempt: c.attempt,
    ...(state === 'errored' && c.retryInMs !== undefined && { retryInMs: c.retryInMs }),
    buffered: c.buffer.length,
    ...(c.refusal && { refusal: c.refusal }),
  };
}
