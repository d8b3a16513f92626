import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { safeEqual } from '../http/safe-equal.ts';
import { queryOf } from '../http/request.ts';

/** Whether `host` names this machine only (`127.0.0.1`, `::1`, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || bare === '::ffff:127.0.0.1';
}

/**
 * The token the inspector requires: the one given, else a random one when it listens beyond
 * loopback (anyone on the network could watch the connector otherwise), else none.
 */
export function resolveToken(host: string, token: string | undefined): string | undefined {
  if (token !== undefined) return token;
  return isLoopbackHost(host) ? undefined : randomBytes(24).toString('base64url');
}

/** Why a request is refused, or undefined when it may go on. */
export type Refusal = { status: 401 | 403; reason: string } | undefined;

/**
 * Checks a page or WebSocket request. With a token, `?token=` must match (compared in constant
 * time). Without one the inspector listens on loopback only, where two browser attacks remain,
 * both refused here: a site the user visits opening our WebSocket (browsers let any origin do
 * that; its `Origin` then differs from `Host`), and a DNS-rebound name pointing at 127.0.0.1
 * (its `Host` is not a loopback name).
 *
 * @example
 * const refusal = checkAccess(req, token);
 * if (refusal) return reply(res, refusal.status, { error: refusal.reason });
 */
export function checkAccess(req: IncomingMessage, token: string | undefined): Refusal {
  if (token !== undefined) {
    const given = queryOf(req.url).get('token');
    if (given === null || !safeEqual(given, token)) return { status: 401, reason: 'token_required' };
  } else {
    const host = req.headers.host ?? '';
    if (!isLoopbackHost(host.replace(/:\d+$/, ''))) return { status: 403, reason: 'host_not_allowed' };
  }
  const origin = req.headers.origin;
  if (origin !== undefined && hostOfOrigin(origin) !== req.headers.host) return { status: 403, reason: 'origin_not_allowed' };
  return undefined;
}

/** `host:port` of an `Origin` header; undefined for `null` (a sandboxed or file page) and garbage. */
function hostOfOrigin(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}
