import { assign, enqueueActions, fromCallback, not, sendParent, sendTo, setup, type SnapshotFrom } from 'xstate';
import type { SocketActorEvent, SocketActorInput, SocketCommand } from './socket-contract.ts';
import { CloseCode, closeCodeName, closeDisposition } from '../protocol/close-codes.ts';
import type { Outbound } from '../protocol/messages.ts';
import { dropDelay, spreadDelay, suspendedDelay } from './backoff.ts';
import { retryDelay } from '../util/backoff.ts';
import type {
  ConnectionContext,
  ConnectionEvent,
  ConnectionInput,
  ConnectionOutput,
  ConnectionReason,
  ConnectionStatus,
} from './connection-types.ts';
import { connectionStateName } from './connection-types.ts';
import { nextRandom } from '../util/random.ts';

export * from './connection-types.ts';

/** `spread`: the hub said it restarts. `drop`: the link ended without a close frame (1006). */
type Failure = { reason: ConnectionReason; spread?: boolean; drop?: boolean };
/** The code a socket reports when the link ended without a close frame: a drop, or a crashed hub. */
const NO_CLOSE_FRAME = 1006;

// Until a real socket actor is provided, every attempt fails loudly instead of hanging.
const missingSocket = fromCallback<SocketCommand, SocketActorInput, SocketActorEvent>(({ input, sendBack }) => {
  sendBack({ type: 'socket.error', generation: input.generation, message: 'no socket actor provided' });
  sendBack({ type: 'socket.closed', generation: input.generation, code: 1006, reason: '' });
});

/** Waiting out `retryInMs` (disconnected or suspended): the retry, the host, or auth giving up. */
const retryPending = {
  after: { retryDelay: { target: 'authorizing', actions: { type: 'setReason', params: { reason: 'retry' } } } },
  on: {
    // The auth machine gave up for good: no point waiting out the retry.
    'token.unavailable': {
      target: 'failed',
      actions: {
        type: 'setReason',
        params: ({ event }: { event: Extract<ConnectionEvent, { type: 'token.unavailable' }> }) => ({ reason: event.reason }),
      },
    },
    connect: { target: 'authorizing', actions: { type: 'setReason', params: { reason: 'host_connect' } } },
    disconnect: { target: 'closed', actions: { type: 'setReason', params: { reason: 'host_stop' } } },
  },
} as const;

/**
 * The connection machine, modelled on Ably's connection states: `initialized`, `connecting`
 * (`opening` → `handshaking`), `connected`, `disconnected` (retry pending), `suspended` (long
 * outage, slower retries), `closing`, `closed`, `failed` (a fatal close; `connect` tries again)
 * and `standalone` (no URL configured). The socket is an invoked actor of the `online` state, so
 * it lives exactly as long as that state does.
 *
 * @example
 * const actor = createActor(
 *   connectionMachine.provide({ actors: { socket: createSocketActor({ adapter: wsSocketAdapter }) } }),
 *   { input: { url, deviceId, tenantId: 'local', token, policy: BackoffPolicy.parse({}),
 *     connectTimeoutMs: 10_000, closeTimeoutMs: 2_000, seed: 1, now: Date.now } },
 * );
 */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: { socket: missingSocket },
  delays: {
    connectTimeout: ({ context }) => context.connectTimeoutMs,
    closeTimeout: ({ context }) => context.closeTimeoutMs,
    stableAfter: ({ context }) => context.policy.stableAfterMs,
    retryDelay: ({ context }) => context.retryInMs ?? 0,
  },
  guards: {
    noUrl: ({ context }) => context.url === undefined,
    current: ({ context, event }) => 'generation' in event && event.generation === context.generation,
    fatalClose: ({ event }) => event.type === 'socket.closed' && closeDisposition(event.code) === 'fatal',
    reauthClose: ({ event }) => event.type === 'socket.closed' && closeDisposition(event.code) === 'reauth',
    restartClose: ({ event }) => event.type === 'socket.closed' && closeDisposition(event.code) === 'retry_spread',
    isConnectAck: ({ event }) => event.type === 'socket.frame' && event.message.type === 'connect_ack',
    isErrorFrame: ({ event }) => event.type === 'socket.frame' && event.message.type === 'error',
    outageTooLong: ({ context }) =>
      context.outageSince !== undefined && context.now() - context.outageSince >= context.policy.suspendAfterMs,
  },
  actions: {
    beginOutage: assign({ outageSince: ({ context }) => context.outageSince ?? context.now() }),
    nextGeneration: assign({ generation: ({ context }) => context.generation + 1, retryInMs: undefined }),
    setReason: assign((_, params: { reason: ConnectionReason }) => ({ reason: params.reason })),
    resetAttempts: assign({ attempt: 0, lastRetryImmediate: false }),
    // Leaving `connected` other than by a failure (which `scheduleRetry` handles: it needs to know).
    forgetSession: assign({ session: undefined }),
    startFresh: assign({ attempt: 1, lastRetryImmediate: false, outageSince: undefined, hubError: undefined }),
    sendConnect: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ sentToken: context.token });
      enqueue.sendTo('socket', {
        type: 'socket.send',
        message: {
          type: 'connect',
          device_id: context.deviceId,
          tenant_id: context.tenantId,
          token: context.token ?? '',
          ...(context.client && { client: context.client }),
          ...context.handshake?.(),
        },
      } satisfies SocketCommand);
    }),
    keepRefreshedToken: assign(({ event }) => (event.type === 'token.refreshed' ? { token: event.token } : {})),
    // In-band: a token newer than the one this session last presented goes out as `auth_refresh`
    // (a refresh while connected, or one that landed during the handshake).
    sendNewerToken: enqueueActions(({ context, enqueue }) => {
      if (context.token === undefined || context.token === context.sentToken) return;
      const refreshSeq = context.refreshSeq + 1;
      enqueue.assign({ refreshSeq, sentToken: context.token });
      enqueue.sendTo('socket', {
        type: 'socket.send',
        message: { type: 'auth_refresh', id: `auth_refresh:${refreshSeq}`, token: context.token },
      } satisfies SocketCommand);
    }),
    storeSession: assign(({ context, event }) => {
      if (event.type !== 'socket.frame' || event.message.type !== 'connect_ack') return {};
      const ack = event.message;
      return {
        reason: 'handshake_complete',
        outageSince: undefined,
        hubError: undefined,
        ...(context.networkError !== undefined && { networkError: undefined }),
        // A close seen before this session says nothing about it.
        lastClose: undefined,
        session: {
          sessionId: ack.session_id,
          heartbeatIntervalMs: ack.heartbeat_interval_ms,
          heartbeatTimeoutMs: ack.heartbeat_timeout_ms,
          maxFrameBytes: ack.max_frame_bytes,
          serverTime: ack.server_time,
          ...(ack.resume && { resume: { status: ack.resume.status, hubEpoch: ack.resume.hub_epoch, missed: ack.resume.missed } }),
          ...(ack.capabilities && { capabilities: ack.capabilities }),
        },
      };
    }),
    recordHubError: assign(({ event }) =>
      event.type === 'socket.frame' && event.message.type === 'error' ? { hubError: event.message.message } : {},
    ),
    recordNetworkError: assign(({ event }) =>
      event.type === 'socket.closed' && event.failure ? { networkError: event.failure.message } : {},
    ),
    recordClose: assign(({ event }) => (event.type === 'socket.closed' ? { lastClose: { code: event.code, reason: event.reason } } : {})),
    /**
     * Chooses the delay of the next attempt and counts the failure: at once after a failure of
     * `connected` (a session is set only there) unless the last retry was already such a first
     * retry, but spread over the drop window when the link ended without a close frame (a
     * crashed hub drops its whole fleet at once); spread over the restart window when the hub
     * said it is restarting; else full jitter.
     */
    scheduleRetry: assign(({ context }, params: Failure) => {
      const [random, rng] = nextRandom(context.rng);
      const immediate = !params.spread && context.session !== undefined && !context.lastRetryImmediate;
      const delay = params.spread
        ? spreadDelay(context.policy, random)
        : immediate
          ? params.drop
            ? dropDelay(context.policy, random)
            : 0
          : retryDelay(context.policy, context.attempt, random);
      return {
        rng,
        retryInMs: delay,
        attempt: context.attempt + 1,
        lastRetryImmediate: immediate,
        reason: params.reason,
        session: undefined,
      };
    }),
    scheduleSuspendedRetry: assign(({ context }) => {
      const [random, rng] = nextRandom(context.rng);
      return { rng, retryInMs: suspendedDelay(context.policy, random), reason: 'outage_too_long' };
    }),
    sendMessage: sendTo('socket', (_, params: { message: Outbound }): SocketCommand => ({ type: 'socket.send', message: params.message })),
    sendFrame: sendTo('socket', (_, params: { frame: string }): SocketCommand => ({ type: 'socket.send_frame', frame: params.frame })),
    closeSocket: sendTo('socket', { type: 'socket.close', code: CloseCode.normal, reason: 'client stop' } satisfies SocketCommand),
    notifyUp: sendParent(({ context }): ConnectionOutput => ({ type: 'connection.up', session: context.session! })),
    notifyDown: sendParent({ type: 'connection.down' } satisfies ConnectionOutput),
    forwardFrame: sendParent(({ event }): ConnectionOutput => ({
      type: 'connection.frame',
      message: (event as Extract<SocketActorEvent, { type: 'socket.frame' }>).message,
    })),
    forwardActivity: sendParent({ type: 'connection.activity' } satisfies ConnectionOutput),
    requestToken: sendParent({ type: 'connection.token_needed' } satisfies ConnectionOutput),
    reportTokenRejected: sendParent({ type: 'connection.token_rejected' } satisfies ConnectionOutput),
    storeToken: assign(({ event }) =>
      event.type === 'token.granted' ? { token: event.token, ...(event.tenantId !== undefined && { tenantId: event.tenantId }) } : {},
    ),
    setTenant: assign(({ event }) => (event.type === 'tenant.changed' ? { tenantId: event.tenantId } : {})),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => {
    const { seed, ...rest } = input;
    return {
      ...rest,
      rng: seed,
      token: undefined,
      sentToken: undefined,
      refreshSeq: 0,
      generation: 0,
      attempt: 1,
      lastRetryImmediate: false,
      retryInMs: undefined,
      reason: 'not_started',
      lastClose: undefined,
      hubError: undefined,
      outageSince: undefined,
      session: undefined,
    };
  },
  initial: 'initialized',
  states: {
    initialized: {
      on: {
        connect: [
          { guard: 'noUrl', target: 'standalone', actions: { type: 'setReason', params: { reason: 'no_url' } } },
          { target: 'authorizing', actions: ['startFresh', { type: 'setReason', params: { reason: 'host_connect' } }] },
        ],
        disconnect: { target: 'closed', actions: { type: 'setReason', params: { reason: 'host_stop' } } },
      },
    },

    // No URL configured: nothing to connect to, nothing that can fail.
    standalone: {
      on: { disconnect: { target: 'closed', actions: { type: 'setReason', params: { reason: 'host_stop' } } } },
    },

    // Every attempt begins with a token that is valid now, from the auth machine.
    authorizing: {
      entry: ['beginOutage', 'requestToken'],
      on: {
        'token.granted': { target: 'online', actions: 'storeToken' },
        'token.unavailable': {
          target: 'failed',
          actions: { type: 'setReason', params: ({ event }) => ({ reason: event.reason }) },
        },
        disconnect: { target: 'closed', actions: { type: 'setReason', params: { reason: 'host_stop' } } },
      },
    },

    online: {
      entry: ['nextGeneration', 'beginOutage'],
      invoke: {
        id: 'socket',
        src: 'socket',
        input: ({ context }): SocketActorInput => ({ url: context.url!, generation: context.generation }),
      },
      on: {
        // Nothing of the old tenant may arrive after a switch: this socket goes before any other opens.
        'tenant.changed': {
          target: 'authorizing',
          actions: ['setTenant', 'forgetSession', { type: 'setReason', params: { reason: 'tenant_changed' } }],
        },
        'credentials.revoked': {
          target: 'authorizing',
          actions: ['forgetSession', { type: 'setReason', params: { reason: 'logged_out' } }],
        },
        // The auth machine gave up for good (a static token expired, a revocation): end the session.
        'token.unavailable': { target: 'failed', actions: { type: 'setReason', params: ({ event }) => ({ reason: event.reason }) } },
        'token.refreshed': { actions: 'keepRefreshedToken' },
        'socket.closed': [
          { guard: not('current') },
          {
            guard: 'fatalClose',
            target: 'failed',
            actions: ['recordClose', { type: 'setReason', params: ({ event }) => ({ reason: closeCodeName(event.code) }) }],
          },
          {
            guard: 'reauthClose',
            target: 'retrying',
            actions: [
              'recordClose',
              { type: 'scheduleRetry', params: ({ event }) => ({ reason: closeCodeName(event.code) }) },
              'reportTokenRejected',
            ],
          },
          {
            guard: 'restartClose',
            target: 'retrying',
            actions: [
              'recordClose',
              { type: 'scheduleRetry', params: ({ event }) => ({ reason: closeCodeName(event.code), spread: true }) },
            ],
          },
          {
            target: 'retrying',
            actions: [
              'recordClose',
              {
                type: 'scheduleRetry',
                params: ({ event }) => ({ reason: closeCodeName(event.code), drop: event.code === NO_CLOSE_FRAME }),
              },
            ],
          },
        ],
        disconnect: { target: '.closing', actions: { type: 'setReason', params: { reason: 'host_stop' } } },
        'socket.unusable': {
          guard: 'current',
          target: 'failed',
          actions: { type: 'setReason', params: { reason: 'invalid_url' } },
        },
      },
      initial: 'connecting',
      states: {
        connecting: {
          after: {
            connectTimeout: {
              target: '#connection.retrying',
              actions: { type: 'scheduleRetry', params: { reason: 'connect_timeout' } },
            },
          },
          initial: 'opening',
          states: {
            opening: {
              on: {
                // The token is confirmed now, not when the attempt began: opening may have taken a while.
                'socket.open': { guard: 'current', target: 'confirming' },
                // Closed before it opened: refused or unreachable (no close code to go by).
                // A TLS or proxy failure the network named is the reason; else refused or unreachable.
                'socket.closed': {
                  guard: 'current',
                  target: '#connection.retrying',
                  actions: [
                    'recordClose',
                    'recordNetworkError',
                    { type: 'scheduleRetry', params: ({ event }) => ({ reason: event.failure?.reason ?? 'connection_refused' }) },
                  ],
                },
              },
            },
            confirming: {
              entry: 'requestToken',
              on: { 'token.granted': { target: 'handshaking', actions: 'storeToken' } },
            },
            handshaking: {
              entry: 'sendConnect',
              on: {
                'socket.frame': [
                  { guard: not('current') },
                  { guard: 'isConnectAck', target: '#connection.online.connected', actions: 'storeSession' },
                  // The hub explains a refusal in an `error` frame, then closes with a code.
                  { guard: 'isErrorFrame', actions: 'recordHubError' },
                ],
                'socket.bad_frame': {
                  guard: 'current',
                  target: '#connection.retrying',
                  actions: { type: 'scheduleRetry', params: { reason: 'protocol_error' } },
                },
              },
            },
          },
        },
        connected: {
          entry: ['notifyUp', 'sendNewerToken'],
          exit: 'notifyDown',
          after: { stableAfter: { actions: 'resetAttempts' } },
          on: {
            'socket.frame': { guard: 'current', actions: 'forwardFrame' },
            'socket.activity': { guard: 'current', actions: 'forwardActivity' },
            // A bad frame from the hub is answered, not fatal: the hub may be newer than us.
            'socket.bad_frame': {
              guard: 'current',
              actions: {
                type: 'sendMessage',
                params: ({ event }) => ({
                  message: { type: 'error', code: event.code, message: event.message, ...(event.refId && { ref_id: event.refId }) },
                }),
              },
            },
            send: { actions: { type: 'sendMessage', params: ({ event }) => ({ message: event.message }) } },
            'token.refreshed': { actions: ['keepRefreshedToken', 'sendNewerToken'] },
            send_frame: { actions: { type: 'sendFrame', params: ({ event }) => ({ frame: event.frame }) } },
            'link.dead': {
              target: '#connection.retrying',
              actions: { type: 'scheduleRetry', params: ({ event }) => ({ reason: event.reason }) },
            },
          },
        },
        closing: {
          entry: ['closeSocket', 'forgetSession'],
          after: { closeTimeout: { target: '#connection.closed' } },
          on: {
            'socket.closed': { guard: 'current', target: '#connection.closed', actions: 'recordClose' },
            disconnect: {},
            // The host asked to stop: a revocation or a new tenant must not open a socket again
            // (a close that never finishes, then a revocation: docs/verification.md, `npm run explore`).
            'tenant.changed': { actions: 'setTenant' },
            'credentials.revoked': {},
            'token.unavailable': {},
            // The host changed its mind: drop the closing socket and start a fresh attempt.
            connect: {
              target: '#connection.authorizing',
              actions: ['startFresh', { type: 'setReason', params: { reason: 'host_connect' } }],
            },
          },
        },
      },
    },

    // Transient: a failed attempt goes on to `disconnected`, or to `suspended` when the outage is long.
    retrying: {
      always: [{ guard: 'outageTooLong', target: 'suspended', actions: 'scheduleSuspendedRetry' }, { target: 'disconnected' }],
    },

    disconnected: retryPending,

    // A long outage: the same as disconnected, with the slower delay scheduleSuspendedRetry chose.
    suspended: retryPending,

    closed: {
      entry: assign({ session: undefined, retryInMs: undefined }),
      on: {
        connect: [
          { guard: 'noUrl', target: 'standalone', actions: { type: 'setReason', params: { reason: 'no_url' } } },
          { target: 'authorizing', actions: ['startFresh', { type: 'setReason', params: { reason: 'host_connect' } }] },
        ],
      },
    },

    failed: {
      entry: assign({ session: undefined, retryInMs: undefined }),
      on: {
        connect: { target: 'authorizing', actions: ['startFresh', { type: 'setReason', params: { reason: 'host_connect' } }] },
        disconnect: { target: 'closed', actions: { type: 'setReason', params: { reason: 'host_stop' } } },
      },
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;

/** What the host sees of a running connection machine (`ConnectorStatus.connection`). */
export function statusOf(snapshot: SnapshotFrom<ConnectionMachine>): ConnectionStatus {
  const c = snapshot.context;
  const state = connectionStateName(snapshot.value);
  return {
    state,
    reason: c.reason,
    attempt: c.attempt,
    ...((state === 'disconnected' || state === 'suspended') && c.retryInMs !== undefined && { retryInMs: c.retryInMs }),
    ...(c.session && { sessionId: c.session.sessionId, maxFrameBytes: c.session.maxFrameBytes }),
    ...(c.lastClose && { lastClose: c.lastClose }),
    ...(c.hubError && { hubError: c.hubError }),
    ...(c.networkError && { networkError: c.networkError }),
  };
}
