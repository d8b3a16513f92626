import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFetchHttpAdapter, fetchHttpAdapter } from '../../src/adapters/fetch-http.ts';
import { HttpError, type HttpAdapter, type HttpErrorKind } from '../../src/adapters/http.ts';
import { createNodeHttpAdapter } from '../../src/adapters/node-http.ts';
import { createNetwork } from '../../src/network/network.ts';

/*
 * The HTTP adapter contract, held by both adapters: the one over fetch (src/adapters/fetch-http.ts)
 * and the connector's default over node:http (src/adapters/node-http.ts) with a network policy.
 */

const network = createNetwork({ proxy: 'none' });
const adapters: Array<[string, HttpAdapter, (defaultTimeoutMs: number) => HttpAdapter]> = [
  ['fetch', fetchHttpAdapter, (defaultTimeoutMs) => createFetchHttpAdapter({ defaultTimeoutMs })],
  ['node:http', createNodeHttpAdapter({ network }), (defaultTimeoutMs) => createNodeHttpAdapter({ network, defaultTimeoutMs })],
];

/** A secret that must never appear in an error message. */
const TOKEN = 'Bearer s3cret-device-token';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Requests the server has received, in order; `arrived` resolves on the next one. */
const seen: Seen[] = [];
let onArrival: (() => void) | undefined;
const arrived = () => new Promise<void>((resolve) => (onArrival = resolve));

function route(req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  switch (path) {
    case '/echo':
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'X-Custom-Header': 'Yes' });
      res.end(JSON.stringify({ method: req.method, body: body === '' ? null : JSON.parse(body) }));
      return;
    case '/not-found':
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ title: 'no such device' }));
      return;
    case '/boom':
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
      return;
    case '/hang':
      return; // never answers
    case '/stall':
      // Headers and half a body, then nothing.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      return;
    case '/bad-json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"unterminated": ');
      return;
    case '/text':
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('héllo');
      return;
    case '/limited':
      res.writeHead(429, { 'content-type': 'application/json', 'Retry-After': '3' });
      res.end(JSON.stringify({ error: 'rate_limited' }));
      return;
    case '/no-content':
      res.writeHead(204);
      res.end();
      return;
    case '/empty-json':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end();
      return;
    case '/json-as-text':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('{"a":1}');
      return;
    default:
      res.writeHead(400);
      res.end();
  }
}

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      onArrival?.();
      route(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  seen.length = 0;
  onArrival = undefined;
  vi.useRealTimers();
});

afterAll(async () => {
  network.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Awaits a rejection and checks it is an HttpError of `kind` that leaks no secret. */
async function expectHttpError(promise: Promise<unknown>, kind: HttpErrorKind): Promise<HttpError> {
  const error = await promise.then(
    () => expect.unreachable('the request should have rejected'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  const httpError = error as HttpError;
  expect(httpError.kind).toBe(kind);
  const { cause: _cause, ...detail } = httpError.detail;
  const visible = `${httpError.message} ${JSON.stringify(detail)}`;
  expect(visible).not.toContain('s3cret');
  expect(visible).not.toContain('api_key');
  return httpError;
}

describe.each(adapters)('%s adapter: responses', (_name, adapter) => {
  it('sends a JSON body with its content type and headers, and parses the JSON answer', async () => {
    const res = await adapter.request({
      method: 'POST',
      url: `${base}/echo`,
      headers: { authorization: TOKEN, 'X-Request-Id': 'req-42' },
      json: { device_id: 'dev-1', tags: ['a', 'b'], n: 3 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ method: 'POST', body: { device_id: 'dev-1', tags: ['a', 'b'], n: 3 } });
    expect(res.headers['x-custom-header']).toBe('Yes');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Object.keys(res.headers).every((name) => name === name.toLowerCase())).toBe(true);

    const [request] = seen;
    expect(request?.method).toBe('POST');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers.authorization).toBe(TOKEN);
    expect(request?.headers['x-request-id']).toBe('req-42');
    expect(JSON.parse(request?.body ?? '')).toEqual({ device_id: 'dev-1', tags: ['a', 'b'], n: 3 });
  });

  it.each(['GET', 'DELETE', 'PUT', 'PATCH'] as const)('sends %s with the method it was given', async (method) => {
    const json = method === 'PUT' || method === 'PATCH' ? { version: 7 } : undefined;
    const res = await adapter.request({ method, url: `${base}/echo`, json });
    expect(res.body).toEqual({ method, body: json ?? null });
    expect(seen[0]?.method).toBe(method);
    expect(seen[0]?.headers['content-type']).toBe(json ? 'application/json' : undefined);
  });

  it("keeps the caller's own content type for a json body", async () => {
    await adapter.request({
      method: 'PATCH',
      url: `${base}/echo`,
      headers: { 'Content-Type': 'application/merge-patch+json' },
      json: { theme: 'dark' },
    });
    expect(seen[0]?.headers['content-type']).toBe('application/merge-patch+json');
  });

  it('resolves (does not reject) with a 404 and its parsed +json body', async () => {
    const res = await adapter.request({ method: 'GET', url: `${base}/not-found` });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ title: 'no such device' });
  });

  it('resolves with a 429 and its Retry-After header, for the caller to wait', async () => {
    const res = await adapter.request({ method: 'GET', url: `${base}/limited` });
    expect(res).toMatchObject({ status: 429, headers: { 'retry-after': '3' }, body: { error: 'rate_limited' } });
  });

  it('resolves with a 500 and its text body', async () => {
    const res = await adapter.request({ method: 'GET', url: `${base}/boom` });
    expect(res).toMatchObject({ status: 500, body: 'internal error' });
  });

  it('returns a non-JSON body as text, decoded as UTF-8', async () => {
    const res = await adapter.request({ method: 'GET', url: `${base}/text` });
    expect(res.body).toBe('héllo');
  });

  it('does not parse a JSON-looking body whose content type is not JSON', async () => {
    const res = await adapter.request({ method: 'GET', url: `${base}/json-as-text` });
    expect(res.body).toBe('{"a":1}');
  });

  it('gives body undefined for an empty body, with or without a JSON content type', async () => {
    const noContent = await adapter.request({ method: 'DELETE', url: `${base}/no-content` });
    expect(noContent.status).toBe(204);
    expect(noContent.body).toBeUndefined();
    const emptyJson = await adapter.request({ method: 'GET', url: `${base}/empty-json` });
    expect(emptyJson.status).toBe(200);
    expect(emptyJson.body).toBeUndefined();
  });
});

describe.each(adapters)('%s adapter: failures', (_name, adapter, withDefaultTimeout) => {
  it('classifies a server that never answers as timeout', async () => {
    const started = performance.now();
    const error = await expectHttpError(
      adapter.request({ method: 'GET', url: `${base}/hang?api_key=k`, headers: { authorization: TOKEN }, timeoutMs: 100 }),
      'timeout',
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
    expect(error.message).toContain('100 ms');
    expect(error.detail).toMatchObject({ method: 'GET', url: `${base}/hang` });
    expect(seen).toHaveLength(1);
  });

  it('classifies a server that sends headers and then stalls as timeout, with the status it sent', async () => {
    const error = await expectHttpError(
      adapter.request({ method: 'GET', url: `${base}/stall`, headers: { authorization: TOKEN }, timeoutMs: 100 }),
      'timeout',
    );
    expect(error.detail.status).toBe(200);
  });

  it('uses the factory default timeout when the request sets none', async () => {
    const http = withDefaultTimeout(80);
    await expectHttpError(http.request({ method: 'GET', url: `${base}/hang` }), 'timeout');
  });

  it("classifies the caller's abort as aborted, not timeout", async () => {
    const controller = new AbortController();
    const request = adapter.request({
      method: 'POST',
      url: `${base}/hang`,
      headers: { authorization: TOKEN },
      json: { a: 1 },
      signal: controller.signal,
      timeoutMs: 10_000,
    });
    await arrived();
    controller.abort();
    await expectHttpError(request, 'aborted');
  });

  it("classifies the caller's abort during a stalled body as aborted", async () => {
    const controller = new AbortController();
    const request = adapter.request({ method: 'GET', url: `${base}/stall`, signal: controller.signal });
    await arrived();
    controller.abort(new DOMException('gave up', 'TimeoutError')); // the name must not matter
    const error = await expectHttpError(request, 'aborted');
    expect(error.message).toContain('response');
  });

  it('rejects at once, sending nothing, when the signal is already aborted', async () => {
    await expectHttpError(adapter.request({ method: 'GET', url: `${base}/echo`, signal: AbortSignal.abort() }), 'aborted');
    expect(seen).toHaveLength(0);
  });

  it('classifies a refused connection as network, naming the code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const error = await expectHttpError(
      adapter.request({
        method: 'POST',
        url: `http://127.0.0.1:${port}/v1/token?api_key=k`,
        headers: { authorization: TOKEN },
        json: { x: 1 },
      }),
      'network',
    );
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.detail.url).toBe(`http://127.0.0.1:${port}/v1/token`);
  });

  it('classifies a JSON content type with a body that is not JSON as invalid_response', async () => {
    const error = await expectHttpError(
      adapter.request({ method: 'GET', url: `${base}/bad-json`, headers: { authorization: TOKEN } }),
      'invalid_response',
    );
    expect(error.detail.status).toBe(200);
    expect(error.detail.cause).toBeInstanceOf(SyntaxError);
  });

  it('rejects a malformed request with a TypeError that quotes no header value, sending nothing', async () => {
    await expect(adapter.request({ method: 'GET', url: `${base}/echo`, json: { a: 1 } })).rejects.toThrow(TypeError);
    await expect(adapter.request({ method: 'GET', url: 'not a url' })).rejects.toThrow(/absolute URL/);
    const bad = adapter.request({ method: 'GET', url: `${base}/echo`, headers: { authorization: `${TOKEN}\r\nx-injected: 1` } });
    const error: unknown = await bad.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(String((error as Error).message)).not.toContain('s3cret');
    expect(seen).toHaveLength(0);
  });
});
