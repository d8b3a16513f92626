import { HttpError, type HttpAdapter, type HttpRequest, type HttpResponse } from './http.ts';
import { parseBody, redactUrl } from './http-body.ts';

/** Default for {@link HttpRequest.timeoutMs}: 30 s. */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

export interface FetchHttpAdapterOptions {
  /** Timeout for requests that set no `timeoutMs`. Default {@link DEFAULT_HTTP_TIMEOUT_MS}. */
  defaultTimeoutMs?: number;
  /** The `fetch` to call. Default the global one (undici in Node). */
  fetch?: typeof fetch;
}

/**
 * Creates an {@link HttpAdapter} over `fetch`. It does not apply the connector's network policy
 * (proxy, CA, client certificate, pins: docs/operations.md, "Networks"): Node's `fetch` ignores
 * proxies and takes no TLS options. The connector's default adapter is the one over `node:http`,
 * which does; pass this one as `options.http` for a host that wants `fetch` anyway.
 *
 * - Resolves with every status, 4xx and 5xx included; rejects only with an {@link HttpError}.
 * - The timeout covers the whole exchange, body included: a server that sends its headers and
 *   then stalls ends in `timeout`, not in a hang.
 * - The kind says which signal fired, not what the error was called: the timeout gives
 *   `timeout`, the caller's `signal` gives `aborted` (a `TimeoutError` is never read as an
 *   abort), anything else before a response gives `network`.
 * - Error messages name the method and the URL without its query string; they never carry
 *   request headers or bodies (those hold tokens).
 *
 * A malformed request is a caller bug and rejects with a `TypeError` before anything is sent:
 * a URL that does not parse, an invalid header, a `json` body on a GET or one that
 * `JSON.stringify` cannot serialise (a cycle, a BigInt).
 *
 * @example
 * const http = createFetchHttpAdapter({ defaultTimeoutMs: 10_000 });
 * const res = await http.request({
 *   method: 'POST',
 *   url: 'https://hub.example.com/v1/devices/dev-1/token',
 *   headers: { authorization: `Bearer ${refreshToken}` },
 *   json: { grant_type: 'refresh_token' },
 * });
 * if (res.status === 200) console.log((res.body as { access_token: string }).access_token);
 */
export function createFetchHttpAdapter(options: FetchHttpAdapterOptions = {}): HttpAdapter {
  const defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));

  return {
    async request(request: HttpRequest): Promise<HttpResponse> {
      const { method, url } = request;
      const where = { method, url: redactUrl(url) };
      const init = buildInit(request);

      if (request.signal?.aborted) {
        throw new HttpError('aborted', `${method} ${where.url}: aborted before it was sent`, {
          ...where,
          cause: request.signal.reason,
        });
      }

      // A timer of our own, not AbortSignal.timeout(): its reason is a value we can recognise
      // whatever error fetch wraps it in, and it is cleared as soon as the exchange is over.
      const timeoutMs = request.timeoutMs ?? defaultTimeoutMs;
      const timeout = new AbortController();
      const timer = setTimeout(() => {
        timeout.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
      }, timeoutMs);
      const signal = request.signal ? AbortSignal.any([request.signal, timeout.signal]) : timeout.signal;

      // Whichever signal fired first decides: `AbortSignal.any` keeps the first reason.
      const classify = (error: unknown, stage: string, status?: number): HttpError => {
        const detail = { ...where, ...(status !== undefined && { status }), cause: error };
        if (signal.aborted && timeout.signal.aborted && signal.reason === timeout.signal.reason) {
          return new HttpError('timeout', `${method} ${where.url}: no ${stage} within ${timeoutMs} ms`, detail);
        }
        if (signal.aborted) {
          return new HttpError('aborted', `${method} ${where.url}: aborted while waiting for the ${stage}`, detail);
        }
        return new HttpError('network', `${method} ${where.url}: ${describeNetworkError(error)}`, detail);
      };

      try {
        let response: Response;
        try {
          response = await doFetch(url, { ...init, signal });
        } catch (error) {
          throw classify(error, 'response');
        }

        let text: string;
        try {
          text = await response.text();
        } catch (error) {
          throw classify(error, 'response body', response.status);
        }

        const headers: Record<string, string> = {};
        // Headers are already lower-cased by fetch; repeated ones arrive joined with ", ".
        response.headers.forEach((value, name) => {
          headers[name.toLowerCase()] = value;
        });
        return { status: response.status, headers, body: parseBody(text, headers, method, where.url, response.status) };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * The real HTTP adapter: {@link createFetchHttpAdapter} with its defaults (global `fetch`,
 * 30 s timeout).
 *
 * @example
 * const res = await fetchHttpAdapter.request({ method: 'GET', url: 'http://127.0.0.1:8080/healthz', timeoutMs: 2_000 });
 * console.log(res.status, res.body);
 */
export const fetchHttpAdapter: HttpAdapter = createFetchHttpAdapter();

function buildInit(request: HttpRequest): RequestInit {
  const headers: Record<string, string> = { ...request.headers };
  const init: RequestInit = { method: request.method, headers };
  if (request.json !== undefined) {
    if (request.method === 'GET') throw new TypeError('HttpRequest: a GET request cannot carry a json body');
    const body = JSON.stringify(request.json);
    if (body === undefined) throw new TypeError('HttpRequest: the json body is not serialisable');
    init.body = body;
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  // Let fetch's own checks run here, where their messages can be dropped: an invalid header
  // value is quoted in the error fetch throws, and header values hold tokens.
  try {
    new Request(request.url, init);
  } catch {
    if (!URL.canParse(request.url)) throw new TypeError('HttpRequest: url is not an absolute URL');
    throw new TypeError('HttpRequest: invalid method or header (names and values not shown)');
  }
  return init;
}

/**
 * `fetch failed` says nothing; the cause's code (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET, …)
 * does. Only the code is quoted: messages of arbitrary errors may quote what was sent.
 */
function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const code = (cause as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `network error (${code})` : 'network error';
}
