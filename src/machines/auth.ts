import { assign, fromPromise, sendParent, setup, type SnapshotFrom } from 'xstate';
import {
  type AuthContext,
  type AuthEvent,
  AuthFetchError,
  type AuthInput,
  type AuthOutput,
  type AuthStatus,
  type LoginInProgress,
  type TokenGrant,
  type UnauthorizedReason,
} from './auth-types.ts';
import { retryDelayAfter } from '../util/backoff.ts';
import { nextRandom } from '../util/random.ts';

export * from './auth-types.ts';
export * from './auth-policy.ts';

// Until the connector provides a real one, every fetch fails as a network error would.
const missingFetch = fromPromise<TokenGrant, { attempt: 'initial' | 'refresh'; organization?: string }>(async () => {
  throw new AuthFetchError('network', 'no token fetcher provided');
});
const missingStartLogin = fromPromise<LoginInProgress, { now: number }>(async () => {
  throw new AuthFetchError('network', 'user login is not configured');
});
const missingPollLogin = fromPromise<TokenGrant, { deviceCode: string }>(async () => {
  throw new AuthFetchError('network', 'user login is not configured');
});
const missingRevoke = fromPromise<void, void>(async () => {});

const errorOf = (event: unknown) => (event as { error?: unknown }).error;
const kindOf = (event: unknown) => {
  const error = errorOf(event);
  return error instanceof AuthFetchError ? error.kind : (error as { kind?: string } | undefined)?.kind;
};

/** The longest delay a Node timer keeps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A refresh is never scheduled sooner than this after a token arrives (no fetch storms). */
const MIN_REFRESH_DELAY_MS = 1_000;

/**
 * The validity a token must have left to be handed out: `minValidityMs`, but at most half its
 * lifetime, so short-lived tokens (seconds) stay usable.
 */
function usableFor(context: AuthContext): boolean {
  const grant = context.grant;
  if (grant === undefined) return false;
  if (grant.expiresAt === undefined) return true;
  const lifetime = grant.expiresAt - (context.receivedAt ?? grant.expiresAt);
  const floor = Math.min(context.policy.minValidityMs, lifetime / 2);
  return grant.expiresAt - context.now() >= floor;
}

const definitive = (error: unknown) => error instanceof AuthFetchError && (error.kind === 'rejected' || error.kind === 'revoked');

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
  actors: { fetchToken: missingFetch, startLogin: missingStartLogin, pollLogin: missingPollLogin, revokeSession: missingRevoke },
  delays: {
    // The sooner of the next wall-clock check and the refresh time.
    // While idle no refresh is due, so the wall clock is only watched (never a 0 ms spin).
    nextCheck: ({ context }) =>
      context.idle
        ? context.policy.wakeCheckMs
        : Math.max(0, Math.min(context.policy.wakeCheckMs, (context.refreshAt ?? Infinity) - context.now())),
    retryDelay: ({ context }) => context.retryInMs ?? 0,
    // Clamped: Node fires a timer longer than 2^31-1 ms (24.8 days, or Infinity) after 1 ms.
    untilExpiry: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, (context.grant?.expiresAt ?? Infinity) - context.now())),
    pollInterval: ({ context }) => context.login?.intervalMs ?? 5_000,
    untilLoginExpiry: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, (context.login?.expiresAt ?? 0) - context.now())),
  },
  guards: {
    isStatic: ({ context }) => context.mode === 'static',
    isNone: ({ context }) => context.mode === 'none',
    isUser: ({ context }) => context.mode === 'user',
    loggedOutFailure: ({ event }) => kindOf(event) === 'logged_out',
    // In user mode a definitive refusal ends the session (log in again) rather than the device.
    sessionEnded: ({ context, event }) => context.mode === 'user' && definitive(errorOf(event)),
    loginPending: ({ event }) => kindOf(event) === 'authorization_pending',
    loginSlowDown: ({ event }) => kindOf(event) === 'slow_down',
    loginDenied: ({ event }) => kindOf(event) === 'access_denied',
    loginExpired: ({ event }) => kindOf(event) === 'expired_token',
    switchQueued: ({ context }) => context.pendingOrganization !== undefined,
    expired: ({ context }) => context.grant?.expiresAt !== undefined && context.grant.expiresAt <= context.now(),
    refreshDue: ({ context }) => !context.idle && context.refreshAt !== undefined && context.now() >= context.refreshAt,
    usable: ({ context }) => usableFor(context),
    hasUsableGrant: ({ context }) => context.grant?.expiresAt !== undefined && usableFor(context),
    pendingAndUsable: ({ context }) => context.pending && usableFor(context),
    definitiveFailure: ({ event }) => definitive(errorOf(event)),
    revokedFailure: ({ event }) => kindOf(event) === 'revoked',
    alreadyRejected: ({ context }) => context.rejectedOnce,
  },
  actions: {
    storeGrant: assign(({ context, event }) => {
      const received = (event as { output?: TokenGrant }).output!;
      const [random, rng] = nextRandom(context.rng);
      const now = context.now();
      // Expiry on the local clock when the lifetime is known: clock skew cannot expire it early.
      const expiresAt = received.lifetimeMs !== undefined ? now + received.lifetimeMs : received.expiresAt;
      const grant = { ...received, expiresAt };
      const fraction = context.policy.refreshAt + random * context.policy.refreshJitter;
      const refreshAt = expiresAt === undefined ? undefined : now + Math.max(MIN_REFRESH_DELAY_MS, (expiresAt - now) * fraction);
      return {
        grant,
        receivedAt: now,
        rng,
        refreshAt,
        failures: 0,
        retryInMs: undefined,
        reason: 'token_issued',
        user: grant.user ?? context.user,
        login: undefined,
      };
    }),
    storeLogin: assign({ login: ({ event }) => (event as { output?: LoginInProgress }).output, reason: 'awaiting_approval' }),
    slowDown: assign({ login: ({ context }) => context.login && { ...context.login, intervalMs: context.login.intervalMs + 5_000 } }),
    promptUser: sendParent(({ context }): AuthOutput => {
      const { deviceCode: _secret, intervalMs: _interval, ...login } = context.login!;
      return { type: 'auth.login_prompt', login };
    }),
    forgetSession: assign((_, params: { reason: string }) => ({
      grant: undefined,
      refreshAt: undefined,
      user: undefined,
      login: undefined,
      pendingOrganization: undefined,
      rejectedOnce: false,
      reason: params.reason,
    })),
    announceLoggedOut: sendParent(({ context }): AuthOutput => ({ type: 'auth.logged_out', reason: context.reason })),
    queueSwitch: assign({ pendingOrganization: ({ event }) => (event as { organization?: string }).organization }),
    announceTenant: sendParent(({ context }): AuthOutput => ({ type: 'auth.tenant_changed', tenant: context.user?.organization.id ?? '' })),
    announceSwitchFailed: sendParent(({ context, event }): AuthOutput => ({
      type: 'auth.switch_failed',
      organization: context.pendingOrganization ?? '',
      reason: kindOf(event) ?? 'failed',
    })),
    clearSwitch: assign({ pendingOrganization: undefined }),
    scheduleRetry: assign(({ context, event }) => {
      const error = (event as { error?: unknown }).error;
      const [random, rng] = nextRandom(context.rng);
      const backoff = { baseMs: context.policy.retryBaseMs, capMs: context.policy.retryCapMs };
      const delay = retryDelayAfter(
        backoff,
        context.failures + 1,
        random,
        error instanceof AuthFetchError ? error.retryAfterMs : undefined,
      );
      return {
        rng,
        failures: context.failures + 1,
        retryInMs: Math.min(MAX_TIMER_MS, delay),
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
    receivedAt: input.staticGrant ? input.now() : undefined,
    refreshAt: undefined,
    pending: false,
    rejectedOnce: false,
    failures: 0,
    retryInMs: undefined,
    reason: 'starting',
    unauthorized: undefined,
    user: undefined,
    login: undefined,
    pendingOrganization: undefined,
    idle: false,
  }),
  initial: 'initializing',
  on: {
    // A request waits for a token unless the state has one to give (those states answer it).
    'token.request': { actions: 'markPending' },
    'token.accepted': { actions: 'accepted' },
    'session.up': { actions: assign({ idle: false }) },
    'session.down': { actions: assign({ idle: true }) },
  },
  states: {
    initializing: {
      always: [{ guard: 'isNone', target: 'disabled' }, { guard: 'isStatic', target: 'static' }, { target: 'attempting' }],
    },

    // A configured token: handed out as is, never refreshed; its expiry is final.
    static: {
      initial: 'valid',
      states: {
        valid: {
          always: {
            guard: 'expired',
            target: '#auth.unauthorized',
            actions: { type: 'becomeUnauthorized', params: { reason: 'static_token_expired' } },
          },
          after: {
            untilExpiry: [
              {
                guard: 'expired',
                target: '#auth.unauthorized',
                actions: { type: 'becomeUnauthorized', params: { reason: 'static_token_expired' } },
              },
              // The clamped timer ran out before the token did (or it never expires): wait again.
              { target: 'valid', reenter: true },
            ],
          },
          on: {
            'token.request': [
              {
                guard: 'expired',
                target: '#auth.unauthorized',
                actions: { type: 'becomeUnauthorized', params: { reason: 'static_token_expired' } },
              },
              { actions: 'answer' },
            ],
            'token.rejected': [
              {
                guard: 'alreadyRejected',
                target: '#auth.unauthorized',
                actions: { type: 'becomeUnauthorized', params: { reason: 'rejected_by_hub' } },
              },
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
          { guard: 'loggedOutFailure', target: 'loggedOut', actions: { type: 'forgetSession', params: { reason: 'not_logged_in' } } },
          {
            guard: 'sessionEnded',
            target: 'loggedOut',
            actions: [{ type: 'forgetSession', params: { reason: 'session_ended' } }, 'announceLoggedOut'],
          },
          { guard: 'revokedFailure', target: 'unauthorized', actions: { type: 'becomeUnauthorized', params: { reason: 'revoked' } } },
          {
            guard: 'definitiveFailure',
            target: 'unauthorized',
            actions: { type: 'becomeUnauthorized', params: { reason: 'credentials_rejected' } },
          },
          { target: 'inactive', actions: 'scheduleRetry' },
        ],
      },
      on: {
        logout: { guard: 'isUser', target: 'loggingOut' },
      },
    },

    // User mode, no session: a connection waits (its request stays pending) until a login.
    loggedOut: {
      on: {
        login: { target: 'loggingIn' },
      },
    },

    // RFC 8628: get a user code, show it, poll the token endpoint until the user approves.
    loggingIn: {
      on: {
        cancel_login: { target: 'loggedOut', actions: { type: 'forgetSession', params: { reason: 'login_cancelled' } } },
        logout: { target: 'loggedOut', actions: { type: 'forgetSession', params: { reason: 'login_cancelled' } } },
      },
      initial: 'starting',
      states: {
        starting: {
          invoke: {
            id: 'startLogin',
            src: 'startLogin',
            input: ({ context }) => ({ now: context.now() }),
            onDone: { target: 'waiting', actions: ['storeLogin', 'promptUser'] },
            onError: { target: '#auth.loggedOut', actions: { type: 'forgetSession', params: { reason: 'login_failed' } } },
          },
        },
        waiting: {
          after: {
            pollInterval: { target: 'polling' },
            untilLoginExpiry: { target: '#auth.loggedOut', actions: { type: 'forgetSession', params: { reason: 'login_expired' } } },
          },
        },
        polling: {
          invoke: {
            id: 'pollLogin',
            src: 'pollLogin',
            input: ({ context }) => ({ deviceCode: context.login!.deviceCode }),
            onDone: { target: '#auth.active', actions: 'storeGrant' },
            onError: [
              { guard: 'loginPending', target: 'waiting' },
              { guard: 'loginSlowDown', target: 'waiting', actions: 'slowDown' },
              { guard: 'loginDenied', target: '#auth.loggedOut', actions: { type: 'forgetSession', params: { reason: 'login_denied' } } },
              { guard: 'loginExpired', target: '#auth.loggedOut', actions: { type: 'forgetSession', params: { reason: 'login_expired' } } },
              // A network error or a 5xx while polling: keep polling at the same pace.
              { target: 'waiting' },
            ],
          },
        },
      },
    },

    // Revoke at the hub (best effort), forget locally, whatever the hub answered.
    loggingOut: {
      invoke: {
        id: 'revokeSession',
        src: 'revokeSession',
        onDone: { target: 'loggedOut', actions: [{ type: 'forgetSession', params: { reason: 'logged_out' } }, 'announceLoggedOut'] },
        onError: { target: 'loggedOut', actions: [{ type: 'forgetSession', params: { reason: 'logged_out' } }, 'announceLoggedOut'] },
      },
    },

    // The cloud is unreachable and no token is valid; credentials are kept and retried.
    inactive: {
      after: { retryDelay: { target: 'attempting' } },
      on: {
        logout: { guard: 'isUser', target: 'loggingOut' },
      },
    },

    active: {
      // What `valid` and `waiting` share (both hold a token); `refreshing` overrides both.
      on: {
        logout: { guard: 'isUser', target: 'loggingOut' },
        switch_organization: { guard: 'isUser', target: '.switching', actions: 'queueSwitch' },
        'token.request': [
          { guard: 'usable', actions: 'answer' },
          { target: '.refreshing', actions: ['markPending', { type: 'setReason', params: { reason: 'token_expiring' } }] },
        ],
        'token.rejected': [
          {
            guard: 'alreadyRejected',
            target: 'unauthorized',
            actions: { type: 'becomeUnauthorized', params: { reason: 'rejected_by_hub' } },
          },
          { target: '.refreshing', actions: 'discardGrant' },
        ],
      },
      initial: 'valid',
      states: {
        valid: {
          // Whoever waited for a token gets it as soon as there is one; a queued switch goes next.
          always: [
            { guard: 'switchQueued', target: 'switching' },
            // A token that just arrived always has its lifetime left (counted from receipt).
            { guard: 'pendingAndUsable', actions: ['answer', 'clearPending'] },
          ],
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
              {
                guard: 'sessionEnded',
                target: '#auth.loggedOut',
                actions: [{ type: 'forgetSession', params: { reason: 'session_ended' } }, 'announceLoggedOut'],
              },
              {
                guard: 'revokedFailure',
                target: '#auth.unauthorized',
                actions: { type: 'becomeUnauthorized', params: { reason: 'revoked' } },
              },
              {
                guard: 'definitiveFailure',
                target: '#auth.unauthorized',
                actions: { type: 'becomeUnauthorized', params: { reason: 'credentials_rejected' } },
              },
              { guard: 'hasUsableGrant', target: 'waiting', actions: 'scheduleRetry' },
              { target: '#auth.inactive', actions: 'scheduleRetry' },
            ],
          },
          on: {
            'token.request': { actions: 'markPending' },
            // The refresh in flight already answers this.
            'token.rejected': { actions: 'discardGrant' },
            // Wait for the refresh, then switch: one fetch in flight at a time.
            switch_organization: { guard: 'isUser', actions: 'queueSwitch' },
          },
        },
        // User mode: a token for another organization; connections wait for it.
        switching: {
          invoke: {
            id: 'fetchToken',
            src: 'fetchToken',
            input: ({ context }) => ({ attempt: 'refresh' as const, organization: context.pendingOrganization! }),
            onDone: { target: 'valid', actions: ['storeGrant', 'clearSwitch', 'announceTenant'] },
            onError: [
              {
                guard: 'sessionEnded',
                target: '#auth.loggedOut',
                actions: [{ type: 'forgetSession', params: { reason: 'session_ended' } }, 'announceLoggedOut'],
              },
              // Not a member, or a passing failure: the current organization stays, refreshed at
              // once if its refresh came due during the switch; else a live session holds an
              // expired token in that window (docs/verification.md, `npm run explore`).
              {
                guard: 'refreshDue',
                target: 'refreshing',
                actions: ['announceSwitchFailed', 'clearSwitch', { type: 'setReason', params: { reason: 'refresh_due' } }],
              },
              {
                target: 'valid',
                actions: ['announceSwitchFailed', 'clearSwitch', { type: 'setReason', params: { reason: 'switch_failed' } }],
              },
            ],
          },
          on: {
            'token.request': { actions: 'markPending' },
            'token.rejected': {},
            switch_organization: { actions: 'queueSwitch' },
          },
        },
        // A refresh failed for a passing reason; the current token is still good for now, so
        // whoever asked during the refresh gets it rather than waiting out the retry.
        waiting: {
          always: { guard: 'pendingAndUsable', actions: ['answer', 'clearPending'] },
          on: {
            // Too little left to hand out: wait for the retry the hub asked for, not sooner.
            'token.request': [{ guard: 'usable', actions: 'answer' }, { actions: 'markPending' }],
          },
          after: {
            retryDelay: { target: 'refreshing', actions: { type: 'setReason', params: { reason: 'retry' } } },
            untilExpiry: { guard: 'expired', target: '#auth.inactive' },
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

/** What the host sees of a running auth machine (`ConnectorStatus.auth`). */
export function statusOf(snapshot: SnapshotFrom<AuthMachine>): AuthStatus {
  const a = snapshot.context;
  const state = authStateName(snapshot.value as string | Record<string, string>);
  const { deviceCode: _secret, intervalMs: _interval, ...login } = a.login ?? ({} as LoginInProgress);
  return {
    state,
    reason: a.reason,
    ...(a.grant?.expiresAt !== undefined && { expiresAt: a.grant.expiresAt }),
    ...((state === 'waiting' || state === 'inactive') && a.retryInMs !== undefined && { retryInMs: a.retryInMs }),
    ...(a.user && { user: a.user }),
    ...(a.login && { login }),
  };
}

/** The token an auth machine holds now, if any (what HTTP requests authenticate with). */
export function grantOf(snapshot: SnapshotFrom<AuthMachine> | undefined): TokenGrant | undefined {
  return snapshot?.context.grant;
}

/** The auth machine's state value as one name. */
function authStateName(value: string | Record<string, string>): AuthStatus['state'] {
  if (typeof value !== 'string') return (value.active ?? (value.loggingIn ? 'logging_in' : 'static')) as AuthStatus['state'];
  const names: Record<string, AuthStatus['state']> = { loggedOut: 'logged_out', loggingOut: 'logging_out', loggingIn: 'logging_in' };
  return names[value] ?? (value as AuthStatus['state']);
}
