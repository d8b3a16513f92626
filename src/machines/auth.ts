import { assign, fromPromise, sendParent, setup } from 'xstate';
import { nextRandom } from './random.ts';

/** A credential the connector can put in `connect` or `auth_refresh`. */
export interface TokenGrant {
  token: string;
  /** Wall time the token stops being valid; undefined for a token that never expires. */
  expiresAt: number | undefined;
}

/**
 * Why a token fetch failed. Only `rejected` and `revoked` are definitive: everything else keeps
 * the session and is retried (a 429 must never log anyone out; brief, section 3).
 */
export type AuthFetchErrorKind = 'rejected' | 'revoked' | 'rate_limited' | 'server' | 'timeout' | 'network' | 'invalid_response';

export class AuthFetchError extends Error {
  override readonly name = 'AuthFetchError';
  constructor(
    readonly kind: AuthFetchErrorKind,
    message: string,
    /** From `Retry-After`, when the server gave one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** `device`: short-lived tokens from the hub; `static`: a configured token; `none`: standalone. */
export type AuthMode = 'device' | 'static' | 'none';

export type UnauthorizedReason = 'static_token_expired' | 'credentials_rejected' | 'revoked' | 'rejected_by_hub';

export interface AuthPolicy {
  /** Refresh at this fraction of a token's lifetime, jittered up to +`refreshJitter`. */
  refreshAt: number;
  refreshJitter: number;
  /** A token with less validity left than this is not handed out for a new connection. */
  minValidityMs: number;
  /** Backoff of failed fetches: full jitter from `retryBaseMs` doubling to `retryCapMs`. */
  retryBaseMs: number;
  retryCapMs: number;
  /** How often the wall clock is compared with the refresh time (sleep, paused process). */
  wakeCheckMs: number;
}

export const defaultAuthPolicy: AuthPolicy = {
  refreshAt: 0.7,
  refreshJitter: 0.15,
  minValidityMs: 5_000,
  retryBaseMs: 1_000,
  retryCapMs: 300_000, // the seed's 5 min cap
  wakeCheckMs: 1_000,
};

export interface AuthInput {
  mode: AuthMode;
  /** The configured token, in `static` mode. */
  staticGrant?: TokenGrant;
  policy: AuthPolicy;
  seed: number;
  now: () => number;
}

export interface AuthContext extends Omit<AuthInput, 'seed' | 'staticGrant'> {
  rng: number;
  grant: TokenGrant | undefined;
  /** Wall time of the next proactive refresh. */
  refreshAt: number | undefined;
  /** Someone asked for a token that is not ready yet; answer when it is. */
  pending: boolean;
  /** The hub refused the current token once already (reactive refresh was spent). */
  rejectedOnce: boolean;
  /** Consecutive failed fetches, for the backoff. */
  failures: number;
  retryInMs: number | undefined;
  reason: string;
  /** Why the machine is `unauthorized`. */
  unauthorized: UnauthorizedReason | undefined;
}

export type AuthEvent =
  /** The connection needs a token for a new attempt. */
  | { type: 'token.request' }
  /** The hub refused the current token (close 4001/4002, or an `auth_refresh` answered with an error). */
  | { type: 'token.rejected' }
  /** The hub accepted the current token (a session opened, or `auth_refresh_ack`). */
  | { type: 'token.accepted' };

/** Events the auth machine sends its parent. */
export type AuthOutput =
  | { type: 'auth.token'; grant: TokenGrant }
  | { type: 'auth.refreshed'; grant: TokenGrant }
  | { type: 'auth.unavailable'; reason: UnauthorizedReason };

// Until the connector provides a real one, every fetch fails as a network error would.
const missingFetch = fromPromise<TokenGrant, { attempt: 'initial' | 'refresh' }>(async () => {
  throw new AuthFetchError('network', 'no token fetcher provided');
});

/** The longest delay a Node timer keeps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const definitive = (error: unknown) =>
  error instanceof AuthFetchError && (error.kind === 'rejected' || error.kind === 'revoked');

/**
 * The auth machine: where every token comes from. In `device` mode it fetches short-lived tokens
 * (the `fetchToken` actor the connector provides) and refreshes them before they expire; in
 * `static` mode it hands out the configured token until it expires, then says so for good.
 *
 * - **One refresh in flight, ever**: only the `attempting` and `active.refreshing` states invoke
 *   the fetch; a token request during a refresh waits for its result.
 * - **Valid at every (re)connect**: `token.request` is answered with a token that has at least
 *   `minValidityMs` left, refreshing first if needed.
 * - **Proactive refresh** at a jittered 70-85 % of the token's lifetime, with the wall clock
 *   checked every `wakeCheckMs`, so a laptop that slept past the refresh time refreshes on wake.
 * - **Reactive refresh**: the hub refusing the token (`token.rejected`) spends exactly one
 *   refresh; a second refusal in a row is definitive (`unauthorized`, reason `rejected_by_hub`).
 * - **Failures are classified**: a 401 or a revocation is definitive; 429, 5xx, timeouts and
 *   network errors keep what is still valid and retry with full-jitter backoff that honours
 *   `Retry-After`.
 *
 * @example
 * const auth = createActor(authMachine.provide({ actors: { fetchToken: fromPromise(fetchDeviceToken) } }), {
 *   input: { mode: 'device', policy: defaultAuthPolicy, seed: 1, now: Date.now },
 * });
 */
export const authMachine = setup({
  types: {
    context: {} as AuthContext,
    events: {} as AuthEvent,
    input: {} as AuthInput,
  },
  actors: { fetchToken: missingFetch },
  delays: {
    // The sooner of the next wall-clock check and the refresh time.
    nextCheck: ({ context }) =>
      Math.max(0, Math.min(context.policy.wakeCheckMs, (context.refreshAt ?? Infinity) - context.now())),
    retryDelay: ({ context }) => context.retryInMs ?? 0,
    // Clamped: Node fires a timer longer than 2^31-1 ms (24.8 days, or Infinity) after 1 ms.
    untilExpiry: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, (context.grant?.expiresAt ?? Infinity) - context.now())),
  },
  guards: {
    isStatic: ({ context }) => context.mode === 'static',
    isNone: ({ context }) => context.mode === 'none',
    staticExpired: ({ context }) => context.grant?.expiresAt !== undefined && context.grant.expiresAt <= context.now(),
    grantExpired: ({ context }) => context.grant?.expiresAt !== undefined && context.grant.expiresAt <= context.now(),
    refreshDue: ({ context }) => context.refreshAt !== undefined && context.now() >= context.refreshAt,
    usable: ({ context }) =>
      context.grant !== undefined &&
      (context.grant.expiresAt === undefined || context.grant.expiresAt - context.now() >= context.policy.minValidityMs),
    hasUsableGrant: ({ context }) =>
      context.grant?.expiresAt !== undefined && context.grant.expiresAt - context.now() >= context.policy.minValidityMs,
    definitiveFailure: ({ event }) => definitive((event as { error?: unknown }).error),
    revokedFailure: ({ event }) => {
      const error = (event as { error?: unknown }).error;
      return error instanceof AuthFetchError && error.kind === 'revoked';
    },
    alreadyRejected: ({ context }) => context.rejectedOnce,
    pending: ({ context }) => context.pending,
  },
  actions: {
    storeGrant: assign(({ context, event }) => {
      const grant = (event as { output?: TokenGrant }).output!;
      const [random, rng] = nextRandom(context.rng);
      const now = context.now();
      const fraction = context.policy.refreshAt + random * context.policy.refreshJitter;
      const refreshAt = grant.expiresAt === undefined ? undefined : now + Math.max(0, grant.expiresAt - now) * fraction;
      return { grant, rng, refreshAt, failures: 0, retryInMs: undefined, reason: 'token_issued' };
    }),
    scheduleRetry: assign(({ context, event }) => {
      const error = (event as { error?: unknown }).error;
      const [random, rng] = nextRandom(context.rng);
      const ceiling = Math.min(context.policy.retryCapMs, context.policy.retryBaseMs * 2 ** Math.min(context.failures, 30));
      const jittered = Math.floor(random * ceiling);
      // Retry-After is a floor, never a reason to come back sooner than the backoff says.
      const retryAfter = error instanceof AuthFetchError ? (error.retryAfterMs ?? 0) : 0;
      return {
        rng,
        failures: context.failures + 1,
        retryInMs: Math.max(jittered, retryAfter),
        reason: error instanceof AuthFetchError ? `fetch_${error.kind}` : 'fetch_failed',
      };
    }),
    markPending: assign({ pending: true }),
    answer: sendParent(({ context }): AuthOutput => ({ type: 'auth.token', grant: context.grant! })),
    clearPending: assign({ pending: false }),
    announceRefresh: sendParent(({ context }): AuthOutput => ({ type: 'auth.refreshed', grant: context.grant! })),
    refuse: sendParent(({ context }): AuthOutput => ({ type: 'auth.unavailable', reason: context.unauthorized! })),
    // The hub says the token is no good: forget it, so nothing hands it out again.
    discardGrant: assign({ grant: undefined, refreshAt: undefined, rejectedOnce: true, reason: 'rejected_by_hub' }),
    accepted: assign({ rejectedOnce: false }),
    setReason: assign((_, params: { reason: string }) => ({ reason: params.reason })),
    becomeUnauthorized: assign((_, params: { reason: UnauthorizedReason }) => ({
      unauthorized: params.reason,
      reason: params.reason,
      grant: undefined,
      refreshAt: undefined,
    })),
  },
}).createMachine({
  id: 'auth',
  context: ({ input }) => ({
    mode: input.mode,
    policy: input.policy,
    now: input.now,
    rng: input.seed,
    grant: input.staticGrant,
    refreshAt: undefined,
    pending: false,
    rejectedOnce: false,
    failures: 0,
    retryInMs: undefined,
    reason: 'starting',
    unauthorized: undefined,
  }),
  initial: 'initializing',
  on: {
    'token.accepted': { actions: 'accepted' },
  },
  states: {
    initializing: {
      always: [
        { guard: 'isNone', target: 'disabled' },
        { guard: 'isStatic', target: 'static' },
        { target: 'attempting' },
      ],
    },

    // A configured token: handed out as is, never refreshed; its expiry is final.
    static: {
      initial: 'valid',
      states: {
        valid: {
          always: {
            guard: 'staticExpired',
            target: '#auth.unauthorized',
            actions: { type: 'becomeUnauthorized', params: { reason: 'static_token_expired' } },
          },
          after: {
            untilExpiry: [
              {
                guard: 'staticExpired',
                target: '#auth.unauthorized',
                actions: { type: 'becomeUnauthorized', params: { reason: 'static_token_expired' } },
              },
              // The clamped timer ran out before the token did (or it never expires): wait again.
              { target: 'valid', reenter: true },
            ],
          },
          on: {
            'token.request': [
              { guard: 'staticExpired', target: '#auth.unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'static_token_expired' } } },
              { actions: 'answer' },
            ],
            'token.rejected': [
              { guard: 'alreadyRejected', target: '#auth.unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'rejected_by_hub' } } },
              // A static token cannot be refreshed: one more try (the hub may have restarted).
              { actions: assign({ rejectedOnce: true }) },
            ],
          },
        },
      },
    },

    // First token of the session: nothing valid to fall back on.
    attempting: {
      invoke: {
        id: 'fetchToken',
        src: 'fetchToken',
        input: { attempt: 'initial' as const },
        onDone: { target: 'active', actions: 'storeGrant' },
        onError: [
          { guard: 'revokedFailure', target: 'unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'revoked' } } },
          { guard: 'definitiveFailure', target: 'unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'credentials_rejected' } } },
          { target: 'inactive', actions: 'scheduleRetry' },
        ],
      },
      on: {
        'token.request': { actions: 'markPending' },
      },
    },

    // The cloud is unreachable and no token is valid; credentials are kept and retried.
    inactive: {
      after: { retryDelay: { target: 'attempting' } },
      on: {
        'token.request': { actions: 'markPending' },
      },
    },

    active: {
      // What `valid` and `waiting` share (both hold a token); `refreshing` overrides both.
      on: {
        'token.request': [
          { guard: 'usable', actions: 'answer' },
          { target: '.refreshing', actions: ['markPending', { type: 'setReason', params: { reason: 'token_expiring' } }] },
        ],
        'token.rejected': [
          { guard: 'alreadyRejected', target: 'unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'rejected_by_hub' } } },
          { target: '.refreshing', actions: 'discardGrant' },
        ],
      },
      initial: 'valid',
      states: {
        valid: {
          // Whoever waited for a token gets it as soon as there is one.
          always: { guard: 'pending', actions: ['answer', 'clearPending'] },
          after: {
            nextCheck: [
              { guard: 'refreshDue', target: 'refreshing', actions: { type: 'setReason', params: { reason: 'refresh_due' } } },
              { target: 'valid', reenter: true },
            ],
          },
        },
        refreshing: {
          invoke: {
            id: 'fetchToken',
            src: 'fetchToken',
            input: { attempt: 'refresh' as const },
            onDone: { target: 'valid', actions: ['storeGrant', 'announceRefresh'] },
            onError: [
              { guard: 'revokedFailure', target: '#auth.unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'revoked' } } },
              { guard: 'definitiveFailure', target: '#auth.unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'credentials_rejected' } } },
              { guard: 'hasUsableGrant', target: 'waiting', actions: 'scheduleRetry' },
              { target: '#auth.inactive', actions: 'scheduleRetry' },
            ],
          },
          on: {
            'token.request': { actions: 'markPending' },
            // The refresh in flight already answers this.
            'token.rejected': { actions: 'discardGrant' },
          },
        },
        // A refresh failed for a passing reason; the current token is still good for now, so
        // whoever asked during the refresh gets it rather than waiting out the retry.
        waiting: {
          always: { guard: 'pending', actions: ['answer', 'clearPending'] },
          after: {
            retryDelay: { target: 'refreshing', actions: { type: 'setReason', params: { reason: 'retry' } } },
            untilExpiry: { guard: 'grantExpired', target: '#auth.inactive' },
          },
        },
      },
    },

    // Standalone: no hub, so no credential; nothing here can fail.
    disabled: {},

    // Definitive: credentials refused, revoked, or a static token expired. `reason` says which.
    unauthorized: {
      entry: 'refuse',
      on: {
        'token.request': { actions: 'refuse' },
      },
    },
  },
});

export type AuthMachine = typeof authMachine;
