import type { ServerResponse } from 'node:http';
import { reply } from '../../http/reply.ts';
import type { Logger } from '../../log/logger.ts';

/**
 * How the token endpoints (`POST /v1/device-token` and `POST /v1/oauth/token`) behave, for
 * tests of the connector's auth machine:
 * - `'ok'`: answer for real (the default),
 * - `{ status, retryAfterS? }`: answer every request with that status (and `Retry-After`
 *   on a 429 or 503 when `retryAfterS` is given),
 * - `'hang'`: answer nothing until the behaviour changes (then by the new one) or the hub
 *   closes (then the connection is cut).
 */
export type TokenEndpointBehaviour = 'ok' | 'hang' | { status: 401 | 429 | 500 | 503; retryAfterS?: number };

/** The body of a faked answer, by status. */
export type FaultBodies = Record<401 | 429 | 500 | 503, { error: string }>;

/** The default fault bodies (those of `POST /v1/device-token`). */
export const FAULT_BODIES: FaultBodies = {
  401: { error: 'invalid_credentials' },
  429: { error: 'rate_limited' },
  500: { error: 'internal' },
  503: { error: 'unavailable' },
};

/** OAuth 2.0 (RFC 6749 §5.1): token answers must not be cached. */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/** One fault behaviour, shared by every route that passes through it. */
export interface FaultGate {
  setBehaviour(behaviour: TokenEndpointBehaviour): void;
  /**
   * Runs `proceed` when the behaviour is `'ok'`; otherwise answers with the fault (with
   * `bodies[status]`), or holds the request until the behaviour changes. `held` is the debug
   * line written when a request is held.
   */
  pass(res: ServerResponse, proceed: () => void, options: { held: string; bodies?: FaultBodies }): void;
  /** Drops held requests; the hub cuts their connections when it closes. */
  abandon(): void;
}

/**
 * Creates a fault gate.
 *
 * @example
 * const gate = createFaultGate(logger);
 * gate.setBehaviour({ status: 429, retryAfterS: 2 });
 * gate.pass(res, () => answerForReal(res), { held: 'token request held (fault: hang)' }); // 429, retry-after: 2
 */
export function createFaultGate(logger: Logger): FaultGate {
  let behaviour: TokenEndpointBehaviour = 'ok';
  const parked = new Set<() => void>();

  const gate: FaultGate = {
    setBehaviour(next) {
      behaviour = next;
      if (next !== 'hang') for (const resume of [...parked]) resume();
    },
    pass(res, proceed, options) {
      if (behaviour === 'hang') {
        const resume = () => {
          parked.delete(resume);
          gate.pass(res, proceed, options);
        };
        parked.add(resume);
        res.once('close', () => parked.delete(resume));
        logger.debug(options.held);
        return;
      }
      if (behaviour !== 'ok') {
        const { status, retryAfterS } = behaviour;
        const headers: Record<string, string> = { ...NO_STORE };
        if (retryAfterS !== undefined && (status === 429 || status === 503)) headers['retry-after'] = String(retryAfterS);
        return reply(res, status, (options.bodies ?? FAULT_BODIES)[status], headers);
      }
      proceed();
    },
    abandon() {
      parked.clear();
    },
  };
  return gate;
}
