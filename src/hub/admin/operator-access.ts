import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddress, isLoopback } from '../../http/client-address.ts';
import { reply } from '../../http/reply.ts';
import { pathOf } from '../../http/request.ts';
import { safeEqual } from '../../http/safe-equal.ts';
import type { Logger } from '../../log/logger.ts';
import type { FailureThrottle } from '../throttle/failure-throttle.ts';
import { replyThrottled } from '../throttle/throttled-reply.ts';

/** What decides who may use the operator routes. */
export interface OperatorAccessParts {
  /** Unset: loopback clients only. */
  adminToken: string | undefined;
  /** Counts wrong admin bearers per address. */
  throttle: FailureThrottle;
  logger: Logger;
}

/**
 * Who may use the operator routes (the admin routes but `/healthz`, the execution, usage and
 * operators' settings routes, `POST /v1/oauth/approve`):
 *
 * - with an admin token, a request with `authorization: Bearer <adminToken>` (compared in constant
 *   time): 401 `unauthorized` otherwise; a wrong bearer counts as a failed `admin_token` attempt,
 *   and an address past its free failures is answered 429 `too_many_attempts` until its lock-out ends;
 * - without one, a loopback client (`127.0.0.0/8`, `::1`): 403 `operator_loopback_only` otherwise.
 *
 * @example
 * const access = new OperatorAccess({ adminToken, throttle, logger });
 * if (!(await access.admit(req, res))) return; // refused, and answered
 */
export class OperatorAccess {
  readonly #parts: OperatorAccessParts;

  constructor(parts: OperatorAccessParts) {
    this.#parts = parts;
  }

  /** Whether an admin token is set. */
  get hasToken(): boolean {
    return this.#parts.adminToken !== undefined;
  }

  /**
   * Whether the request carries the admin bearer; false without an admin token. Counts nothing:
   * for routing a request that may be someone else's (`/v1/usage`), not for letting it in.
   */
  presentsToken(req: IncomingMessage): boolean {
    const { adminToken } = this.#parts;
    const bearer = bearerOf(req);
    return adminToken !== undefined && bearer !== undefined && safeEqual(bearer, adminToken);
  }

  /** Lets an operator request in (true), or answers its refusal (false). */
  async admit(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const { adminToken, throttle, logger } = this.#parts;
    const path = pathOf(req.url);
    const address = clientAddress(req);
    if (adminToken === undefined) {
      if (isLoopback(address)) return true;
      logger.warn({ path, address }, 'operator request refused: no admin token, and not a loopback client');
      reply(res, 403, {
        error: 'operator_loopback_only',
        message: 'this hub has no admin token: its operator routes answer loopback clients only',
      });
      return false;
    }
    const bearer = bearerOf(req);
    const attempt = { kind: 'admin_token', address } as const;
    const gate = await throttle.admit(attempt);
    if (!gate.ok) {
      replyThrottled(res, gate.retryAfterMs, { 'www-authenticate': 'Bearer' });
      return false;
    }
    if (bearer !== undefined && safeEqual(bearer, adminToken)) return true;
    if (bearer !== undefined) await throttle.fail(attempt);
    logger.warn({ path }, 'admin request refused: bad or missing bearer');
    reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    return false;
  }
}

function bearerOf(req: IncomingMessage): string | undefined {
  return /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
}
