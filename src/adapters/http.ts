import type { NetworkFailureReason } from '../util/network-failure-reason.ts';

/**
 * The HTTP adapter: the only way the connector makes HTTP requests (token endpoint, REST API,
 * telemetry). The connector's default is `createNodeHttpAdapter` (src/adapters/node-http.ts),
 * which applies the network policy; `fetchHttpAdapter` (src/adapters/fetch-http.ts) is the one
 * over `fetch`. Both pass the same contract tests (test/adapters/http-contract.test.ts).
 */
export interface HttpAdapter {
  /**
   * Sends one request. Resolves with any HTTP status (4xx and 5xx included); rejects only with
   * an {@link HttpError} when no response arrived.
   */
  request(request: HttpRequest): Promise<HttpResponse>;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Serialised as JSON with `content-type: application/json`. */
  json?: unknown;
  /** Gives up after this long with an `HttpError` of kind `timeout`. Default 30 s. */
  timeoutMs?: number;
  /** Aborting it rejects with an `HttpError` of kind `aborted`. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Parsed JSON when the response says it is JSON, else the text; undefined when empty. */
  body: unknown;
}

/**
 * Why a request produced no response:
 * - `timeout`: `timeoutMs` passed (not an abort, though `AbortSignal.timeout` is how it fires: it
 *   raises `TimeoutError`, not `AbortError`),
 * - `aborted`: the caller's signal fired,
 * - `network`: refused, reset, DNS, TLS,
 * - `invalid_response`: a body that claims to be JSON and is not,
 * - a {@link NetworkFailureReason} (`tls_untrusted_certificate`, `proxy_auth_required`, …): the
 *   TLS handshake or the proxy failed in a way the network named; the message names the host
 *   and the remedy (docs/operations.md, "Networks").
 */
export type HttpErrorKind = 'timeout' | 'aborted' | 'network' | 'invalid_response' | NetworkFailureReason;

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly kind: HttpErrorKind,
    message: string,
    readonly detail: { method?: string; url?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message);
  }
}
