import { fromPromise, SimulatedClock } from 'xstate';
import { type AuthInput, authMachine, defaultAuthPolicy, type TokenGrant } from '../../src/machines/auth.ts';
import { flush, underParent } from './harness.ts';

/** A token fetcher the test answers by hand, counting fetches in flight. */
export function controllableFetch() {
  const calls: Array<{ attempt: string; resolve: (grant: TokenGrant) => void; reject: (error: unknown) => void; settled: boolean }> = [];
  const state = { inFlight: 0, maxInFlight: 0 };
  const logic = fromPromise<TokenGrant, { attempt: 'initial' | 'refresh' }>(
    ({ input, signal }) =>
      new Promise<TokenGrant>((resolve, reject) => {
        state.inFlight++;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        const call = {
          attempt: input.attempt,
          settled: false,
          resolve: (grant: TokenGrant) => settle(() => resolve(grant)),
          reject: (error: unknown) => settle(() => reject(error)),
        };
        const settle = (fn: () => void) => {
          if (call.settled) return;
          call.settled = true;
          state.inFlight--;
          fn();
        };
        // The machine left the state that invoked the fetch: it no longer counts as in flight.
        signal.addEventListener('abort', () => settle(() => {}));
        calls.push(call);
      }),
  );
  return { logic, calls, state, open: () => calls.filter((c) => !c.settled) };
}

/** An auth machine under a recording parent, with a wall clock that can jump (sleep). */
export function authFixture(input: Partial<AuthInput> = {}) {
  const clock = new SimulatedClock();
  clock.set(1_000_000);
  let slept = 0;
  const now = () => clock.now() + slept;
  const fetch = controllableFetch();
  const logic = authMachine.provide({ actors: { fetchToken: fetch.logic } });
  const h = underParent(logic, { mode: 'device', policy: defaultAuthPolicy, seed: 5, now, ...input }, clock);
  return {
    ...h,
    fetch,
    now,
    sleep: (ms: number) => void (slept += ms),
    ctx: () => h.child.getSnapshot().context as ReturnType<typeof authMachine.getInitialSnapshot>['context'],
    /** A grant valid for `lifetimeMs` from now. */
    grant: (lifetimeMs: number, token = `tok-${Math.random().toString(36).slice(2)}`): TokenGrant => ({
      token,
      expiresAt: now() + lifetimeMs,
    }),
    advance: async (ms: number) => {
      clock.increment(ms);
      await flush();
    },
    settle: flush,
  };
}
