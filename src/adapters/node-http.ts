import { request as httpRequest, type IncomingMessage, validateHeaderName, validateHeaderValue } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Network } from '../network/network.ts';
import { proxyRefusal } from '../network/network-failure.ts';
import { DEFAULT_HTTP_TIMEOUT_MS } from './fetch-http.ts';
import { HttpError, type HttpAdapter, type HttpRequest, type HttpResponse } from './http.ts';
import { parseBody, redactUrl } from './http-body.ts';

export interface NodeHttpAdapterOptions {
  /** The network policy: proxy, CA, client certificate, pins, default timeout. Default: direct, Node's trust. */
  network?: Network;
  /** Timeout for requests that set no `timeoutMs`. Default the network's `requestTimeoutMs`, else 30 s. */
  defaultTimeoutMs?: number;
}

/**
 * Creates an {@link HttpAdapter} over `node:http` and `node:https` that goes where the network
 * policy says: through its proxy (a CONNECT tunnel for https://, forwarding for http://), with
 * its CA, client certificate and pins, on the same agents as the socket adapter
 * (`createWsSocketAdapter`). It keeps the contract `createFetchHttpAdapter` keeps
 * (test/adapters/http-contract.test.ts): every status resolves; only an {@link HttpError}
 * rejects; the timeout covers the body; messages name the method and the URL without its query
 * and never carry headers or bodies. A TLS or proxy failure rejects with its own kind
 * (`tls_untrusted_certificate`, `proxy_auth_required`, …), worded with the host and the remedy.
 *
 * @example
 * const network = createNetwork({ proxy: 'http://proxy.corp:3128' });
 * const http = createNodeHttpAdapter({ network });
 * const res = await http.request({ method: 'GET', url: 'https://hub.example.com/v1/whoami', headers: { authorization: `Bearer ${token}` } });
 */
export function createNodeHttpAdapter(options: NodeHttpAdapterOptions = {}): HttpAdapter {
  const { network } = options;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? network?.requestTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;

  return {
    request(request: HttpRequest): Promise<HttpResponse> {
      const { method } = request;
      const where = { method, url: redactUrl(request.url) };
      let prepared: { url: URL; headers: Record<string, string>; body: string | undefined };
      try {
        prepared = prepare(request);
      } catch (error) {
        return Promise.reject(error);
      }
      if (request.signal?.aborted) {
        return Promise.reject(
          new HttpError('aborted', `${method} ${where.url}: aborted before it was sent`, { ...where, cause: request.signal.reason }),
        );
      }
      const { url, headers, body } = prepared;
      const route = network?.route(url);
      const secure = url.protocol === 'https:';
      const timeoutMs = request.timeoutMs ?? defaultTimeoutMs;

      return new Promise<HttpResponse>((resolve, reject) => {
        let settled = false;
        let stage = 'response';
        let status: number | undefined;
        const detail = (cause: unknown) => ({ ...where, ...(status !== undefined && { status }), cause });
        const finish = (outcome: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          request.signal?.removeEventListener('abort', onAbort);
          outcome();
        };
        const fail = (error: HttpError) =>
          finish(() => {
            req.destroy();
            reject(error);
          });
        const onAbort = () =>
          fail(new HttpError('aborted', `${method} ${where.url}: aborted while waiting for the ${stage}`, detail(request.signal?.reason)));
        const timer = setTimeout(
          () => fail(new HttpError('timeout', `${method} ${where.url}: no ${stage} within ${timeoutMs} ms`, detail(undefined))),
          timeoutMs,
        );
        request.signal?.addEventListener('abort', onAbort, { once: true });

        const failNetwork = (error: unknown) => {
          const failure = route && network?.classify(error, route);
          if (failure) fail(new HttpError(failure.reason, `${method} ${where.url}: ${failure.message}`, detail(failure)));
          else fail(new HttpError('network', `${method} ${where.url}: ${describeNetworkError(error)}`, detail(error)));
        };

        const req = (secure ? httpsRequest : httpRequest)(url, {
          method,
          headers,
          ...(route && { agent: route.agent }),
          ...(secure && network?.tlsFor(url)),
        });
        req.on('error', failNetwork);
        req.on('response', (res: IncomingMessage) => {
          status = res.statusCode ?? 0;
          stage = 'response body';
          // A refused tunnel or a 407 is the proxy's answer, never the server's.
          const refusal = route && proxyRefusal(status, network!.tunnelRefusal(req), route.failedRoute);
          if (refusal) {
            res.resume();
            failNetwork(refusal);
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', failNetwork);
          res.on('close', () => {
            if (!res.complete) failNetwork(Object.assign(new Error('the connection closed during the body'), { code: 'ECONNRESET' }));
          });
          res.on('end', () => {
            const responseHeaders: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            try {
              const parsed = parseBody(Buffer.concat(chunks).toString('utf8'), responseHeaders, method, where.url, status!);
              finish(() => resolve({ status: status!, headers: responseHeaders, body: parsed }));
            } catch (error) {
              fail(error as HttpError);
            }
          });
        });
        req.end(body);
      });
    },
  };
}

/**
 * Checks a request before anything is sent, as `fetch` would: an absolute http(s) URL, valid
 * header names and values (never quoted: values hold tokens), a serialisable json body on a
 * method that takes one.
 */
function prepare(request: HttpRequest): { url: URL; headers: Record<string, string>; body: string | undefined } {
  if (!URL.canParse(request.url)) throw new TypeError('HttpRequest: url is not an absolute URL');
  const url = new URL(request.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('HttpRequest: url must be http:// or https://');
  const headers: Record<string, string> = { ...request.headers };
  try {
    for (const [name, value] of Object.entries(headers)) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    }
  } catch {
    throw new TypeError('HttpRequest: invalid method or header (names and values not shown)');
  }
  let body: string | undefined;
  if (request.json !== undefined) {
    if (request.method === 'GET') throw new TypeError('HttpRequest: a GET request cannot carry a json body');
    body = JSON.stringify(request.json);
    if (body === undefined) throw new TypeError('HttpRequest: the json body is not serialisable');
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return { url, headers, body };
}

/** Only the error's code is quoted: messages of arbitrary errors may quote what was sent. */
function describeNetworkError(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  // Our own wording, which names the proxy (without credentials) and its status.
  if (code === 'ERR_PROXY_TUNNEL_REFUSED') return (error as Error).message;
  return typeof code === 'string' ? `network error (${code})` : 'network error';
}
