import { HttpError } from '../adapters/http.ts';

/**
 * Why an API request failed, one kind per thing the caller can do about it:
 * - `authentication` (401, after the one refresh and retry), `forbidden` (403), `not_found` (404),
 *   `conflict` (409), `invalid_request` (400, 413, 422: fix the request);
 * - `rate_limited` (429: `retryAfterMs` says when), `server` (5xx), `network` (no answer: refused,
 *   reset, DNS), `timeout` (no answer within the request's timeout; never reported as an abort,
 *   see src/adapters/http.ts), `invalid_response` (an answer that does not match the contract).
 */
export type ApiErrorKind =
  | 'authentication'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'invalid_request'
  | 'rate_limited'
  | 'server'
  | 'network'
  | 'timeout'
  | 'invalid_response';

/** A failed API request. The message names the route and the status, never a credential. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly kind: ApiErrorKind,
    message: string,
    readonly detail: {
      method: string;
      path: string;
      status?: number;
      /** The hub's error code (`sharing_disabled`, `version_conflict`, …). */
      code?: string;
      /** `rate_limited`: how long the hub asked to wait. */
      retryAfterMs?: number;
      /** Attempts made (retries of idempotent requests included). */
      attempts: number;
    },
  ) {
    super(message);
  }

  get status(): number | undefined {
    return this.detail.status;
  }

  get retryAfterMs(): number | undefined {
    return this.detail.retryAfterMs;
  }
}

/** The kind of a request that got no answer: the adapter's `timeout` and `invalid_response`, else `network`. */
export function kindOfNoAnswer(error: unknown): 'timeout' | 'invalid_response' | 'network' {
  return error instanceof HttpError && (error.kind === 'timeout' || error.kind === 'invalid_response') ? error.kind : 'network';
}

/** Failures worth another attempt of an idempotent request. */
export const RETRYABLE: ReadonlySet<ApiErrorKind> = new Set(['rate_limited', 'server', 'network', 'timeout']);

/** The error kind of an HTTP status that is not a success. */
export function kindOfStatus(status: number): ApiErrorKind {
  if (status === 401) return 'authentication';
  if (status === 403) return 'forbidden';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  if (status >= 400) return 'invalid_request';
  return 'invalid_response';
}
