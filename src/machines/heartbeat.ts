import { assign, sendParent, setup, type SnapshotFrom } from 'xstate';

export interface HeartbeatInput {
  /** Wall clock. Compared with timer ticks to notice a paused process or a sleeping laptop. */
  now: () => number;
  /** How often the wall clock is checked while the link is up. Default 1 000 ms. */
  wakeCheckMs?: number;
}

export interface HeartbeatContext extends Required<HeartbeatInput> {
  /** From `connect_ack`. */
  intervalMs: number;
  timeoutMs: number;
  /** Sequence number of the last heartbeat sent. */
  seq: number;
  /** Wall time when the current interval started. */
  intervalStartedAt: number;
  /** Wall time the last heartbeat went out. */
  sentAt: number;
  /** Round trip of the last acknowledged heartbeat. */
  rttMs: number | undefined;
  reason: HeartbeatReason;
}

export type HeartbeatReason = 'link_down' | 'link_up' | 'acknowledged' | 'interval_elapsed' | 'heartbeat_timeout' | 'sleep_detected';

export type HeartbeatEvent =
  | { type: 'link.up'; intervalMs: number; timeoutMs: number }
  | { type: 'link.down' }
  /** Any inbound frame; `ackSeq` when it was a `heartbeat_ack`. */
  | { type: 'activity'; ackSeq?: number };

/** The heartbeat's part of the connector status; `stopped` while no heartbeat machine runs. */
export interface HeartbeatStatus {
  state: 'idle' | 'waiting' | 'awaiting' | 'dead' | 'stopped';
  reason: string;
  /** Round trip of the last acknowledged heartbeat. */
  rttMs?: number;
}

type DeadReason = 'heartbeat_timeout' | 'sleep_detected';

/** Events the heartbeat machine sends to its parent. */
export type HeartbeatOutput = { type: 'heartbeat.send'; seq: number } | { type: 'heartbeat.dead'; reason: DeadReason };

/**
 * The heartbeat machine. While the link is up it sends `heartbeat` every interval the hub
 * announced and expects any inbound frame within the timeout after it; silence means a dead link,
 * found at most interval + timeout after the link died.
 *
 * A parallel `wake` region reads the wall clock every `wakeCheckMs`. When more time passed
 * since the interval began than the timers allow (interval + timeout, plus one check), the
 * process was paused or the machine slept (timers run on a monotonic clock that stops in
 * suspend). The hub has given up on this session by then, so the link is reported dead within
 * a second of waking instead of up to a whole interval later.
 *
 * @example
 * const hb = createActor(heartbeatMachine, { input: { now: Date.now } });
 * hb.start();
 * hb.send({ type: 'link.up', intervalMs: 25_000, timeoutMs: 10_000 });
 */
export const heartbeatMachine = setup({
  types: {
    context: {} as HeartbeatContext,
    events: {} as HeartbeatEvent,
    input: {} as HeartbeatInput,
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
    timeout: ({ context }) => context.timeoutMs,
    wakeCheck: ({ context }) => context.wakeCheckMs,
  },
  guards: {
    // Beyond what the timers allow: interval + timeout (the timeout fires then), plus one check.
    slept: ({ context }) => context.now() - context.intervalStartedAt > context.intervalMs + context.timeoutMs + context.wakeCheckMs,
    acksCurrent: ({ context, event }) => event.type === 'activity' && event.ackSeq === context.seq,
  },
  actions: {
    startLink: assign(({ event }) =>
      event.type === 'link.up' ? { intervalMs: event.intervalMs, timeoutMs: event.timeoutMs, reason: 'link_up' as const } : {},
    ),
    countHeartbeat: assign(({ context }) => ({ seq: context.seq + 1, sentAt: context.now(), reason: 'interval_elapsed' as const })),
    sendHeartbeat: sendParent(({ context }): HeartbeatOutput => ({ type: 'heartbeat.send', seq: context.seq })),
    acknowledged: assign({ reason: 'acknowledged' }),
    // The wall clock may be set back (NTP, the user) between a heartbeat and its ack: never negative.
    measureRtt: assign({ rttMs: ({ context }) => Math.max(0, context.now() - context.sentAt) }),
    markDead: assign((_, params: { reason: DeadReason }) => ({ reason: params.reason })),
    reportDead: sendParent(({ context }): HeartbeatOutput => ({
      type: 'heartbeat.dead',
      reason: context.reason as DeadReason,
    })),
  },
}).createMachine({
  id: 'heartbeat',
  context: ({ input }) => ({
    now: input.now,
    wakeCheckMs: input.wakeCheckMs ?? 1_000,
    intervalMs: 25_000,
    timeoutMs: 10_000,
    seq: 0,
    intervalStartedAt: 0,
    sentAt: 0,
    rttMs: undefined,
    reason: 'link_down',
  }),
  initial: 'idle',
  states: {
    idle: {
      on: { 'link.up': { target: 'active', actions: 'startLink' } },
    },
    active: {
      type: 'parallel',
      on: {
        'link.down': { target: 'idle', actions: assign({ reason: 'link_down' }) },
        'link.up': { target: 'active', reenter: true, actions: 'startLink' },
      },
      states: {
        beat: {
          initial: 'waiting',
          states: {
            waiting: {
              entry: assign({ intervalStartedAt: ({ context }) => context.now() }),
              after: { interval: { target: 'awaiting', actions: ['countHeartbeat', 'sendHeartbeat'] } },
            },
            awaiting: {
              after: {
                timeout: {
                  target: '#heartbeat.dead',
                  actions: [{ type: 'markDead', params: { reason: 'heartbeat_timeout' } }, 'reportDead'],
                },
              },
              on: {
                activity: [
                  { guard: 'acksCurrent', target: 'waiting', actions: ['measureRtt', 'acknowledged'] },
                  { target: 'waiting', actions: 'acknowledged' },
                ],
              },
            },
          },
        },
        wake: {
          initial: 'watching',
          states: {
            watching: {
              after: {
                wakeCheck: [
                  {
                    guard: 'slept',
                    target: '#heartbeat.dead',
                    actions: [{ type: 'markDead', params: { reason: 'sleep_detected' } }, 'reportDead'],
                  },
                  { target: 'watching', reenter: true },
                ],
              },
            },
          },
        },
      },
    },
    // Reported; the connection drops the link and a later `link.up` starts over.
    dead: {
      on: {
        'link.up': { target: 'active', actions: 'startLink' },
        'link.down': { target: 'idle', actions: assign({ reason: 'link_down' }) },
      },
    },
  },
});

export type HeartbeatMachine = typeof heartbeatMachine;

/** What the host sees of a running heartbeat machine (`ConnectorStatus.heartbeat`). */
export function statusOf(snapshot: SnapshotFrom<HeartbeatMachine>): HeartbeatStatus {
  const h = snapshot.context;
  const value = snapshot.value as 'idle' | 'dead' | { active: { beat: 'waiting' | 'awaiting' } };
  return {
    state: typeof value === 'string' ? value : value.active.beat,
    reason: h.reason,
    ...(h.rttMs !== undefined && { rttMs: h.rttMs }),
  };
}
