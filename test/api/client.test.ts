import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { fetchHttpAdapter } from '../../src/adapters/fetch-http.ts';
import { ApiError } from '../../src/api/api-error.ts';
import { ApiClient, type ApiCredentials, apiKeyCredentials } from '../../src/api/client.ts';
import { until } from '../support/loopback.ts';

/** A loopback HTTP server answering with `handler`; every request is recorded. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
  const requests: Array<{ method: string; url: string; authorization: string | undefined }> = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    handler(req, res, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    // close() waits for open connections: a request left hanging would keep it waiting.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    return closed;
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const LIMITS = { burst: 20, per_second: 10 };

function client(origin: string, options: { credentials?: ApiCredentials; timeoutMs?: number } = {}) {
  const clock = new SimulatedClock();
  const api = new ApiClient({
    http: fetchHttpAdapter,
    origin,
    credentials: options.credentials ?? apiKeyCredentials('ctk_k1_secret'),
    clock,
    retry: { attempts: 3, baseMs: 100, capMs: 400 },
    timeoutMs: options.timeoutMs ?? 2_000,
    seed: 3,
  });
  /** Runs a call to its end, moving the simulated clock on while it waits (backoff, Retry-After). */
  const settle = async <T>(call: Promise<T>): Promise<T | ApiError> => {
    let outcome: { value: T } | { error: unknown } | undefined;
    call.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    await until(
      () => outcome !== undefined,
      () => clock.increment(50),
    );
    if ('error' in outcome!) {
      if (outcome.error instanceof ApiError) return outcome.error;
      throw outcome.error;
    }
    return outcome!.value;
  };
  return { api, clock, settle };
}

describe('API client error classes', () => {
  it.each([
    [401, 'authentication'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [400, 'invalid_request'],
    [413, 'invalid_request'],
  ] as const)('reports %i as %s, with the hub error code, without retrying', async (status, kind) => {
    const { origin, requests } = await serve((_req, res) => json(res, status, { error: `code_${status}` }));
    const { api, settle } = client(origin);
    const error = (await settle(api.whoami())) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ kind, detail: { status, code: `code_${status}`, method: 'GET', path: '/v1/whoami' } });
    // The key never appears in what is reported.
    expect(error.message).not.toContain('secret');
    expect(requests).toHaveLength(1);
  });

  it('reports an answer that breaks the contract as invalid_response', async () => {
    const { origin } = await serve((_req, res) => json(res, 200, { kind: 'device' }));
    const { api, settle } = client(origin);
    expect(await settle(api.whoami())).toMatchObject({ kind: 'invalid_response', detail: { status: 200 } });
  });

  it('reports no answer within the timeout as timeout, not as an abort; a refused connection as network', async () => {
    const { origin } = await serve(() => {
      /* never answers */
    });
    const { api, settle } = client(origin, { timeoutMs: 50 });
    // The adapter's timeout is real I/O time, which until() waits out turn by turn.
    const error = (await settle(api.limits())) as ApiError;
    expect(error).toMatchObject({ kind: 'timeout', detail: { attempts: 3 } });
    const refused = client('http://127.0.0.1:9');
    expect(await refused.settle(refused.api.limits())).toMatchObject({ kind: 'network' });
    const standalone = client('');
    const none = new ApiClient({ http: fetchHttpAdapter, origin: undefined, credentials: apiKeyCredentials('k'), clock: standalone.clock });
    await expect(none.whoami()).rejects.toMatchObject({ kind: 'network', message: expect.stringContaining('standalone') });
  });
});

describe('API client retries', () => {
  it('retries an idempotent request on 503 and 429, waiting at least Retry-After, and stops at its attempts', async () => {
    const { origin, requests } = await serve((_req, res, n) => {
      if (n === 1) return json(res, 503, { error: 'unavailable' });
      if (n === 2) return json(res, 429, { error: 'rate_limited' }, { 'retry-after': '2' });
      json(res, 200, LIMITS);
    });
    const { api, clock, settle } = client(origin);
    const started = clock.now();
    expect(await settle(api.limits())).toEqual(LIMITS);
    expect(requests).toHaveLength(3);
    expect(clock.now() - started).toBeGreaterThanOrEqual(2_000);

    const down = await serve((_req, res) => json(res, 502, { error: 'bad_gateway' }));
    const again = client(down.origin);
    expect(await again.settle(again.api.limits())).toMatchObject({ kind: 'server', detail: { attempts: 3, status: 502 } });
    expect(down.requests).toHaveLength(3);
  });

  it('never retries a non-idempotent request, and reports the delay a 429 asked for', async () => {
    const { origin, requests } = await serve((_req, res, n) =>
      n === 1 ? json(res, 503, { error: 'unavailable' }) : json(res, 429, { error: 'rate_limited' }, { 'retry-after': '7' }),
    );
    const { api, settle } = client(origin);
    expect(await settle(api.createShare({ resource: { type: 'task', id: 't1' }, visibility: 'organization' }))).toMatchObject({
      kind: 'server',
      detail: { attempts: 1 },
    });
    expect(requests).toHaveLength(1);
    expect(await settle(api.createApiKey({ name: 'ci', permissions: ['usage:read'] }))).toMatchObject({
      kind: 'rate_limited',
      retryAfterMs: 7_000,
    });
    expect(requests).toHaveLength(2);
  });

  it('refreshes the credential once on a 401 and retries once, also for a POST; a second 401 is final', async () => {
    let token = 'old';
    let refreshes = 0;
    const credentials: ApiCredentials = {
      headers: () => ({ authorization: `Bearer ${token}` }),
      refresh: async () => {
        refreshes++;
        token = `new${refreshes}`;
        return true;
      },
    };
    const { origin, requests } = await serve((req, res) =>
      req.headers.authorization === 'Bearer new1'
        ? json(res, 201, { accepted: 1, duplicates: 0 })
        : json(res, 401, { error: 'unauthorized' }),
    );
    const { api, settle } = client(origin, { credentials });
    expect(await settle(api.sendTelemetry([{ id: 'e1', event: 'a.b', timestamp: 0, properties: {} }]))).toEqual({
      accepted: 1,
      duplicates: 0,
    });
    expect(requests.map((r) => r.authorization)).toEqual(['Bearer old', 'Bearer new1']);
    token = 'stale';
    expect(await settle(api.whoami())).toMatchObject({ kind: 'authentication', detail: { status: 401 } });
    // One refresh per request at most: the retry with the new credential was the last word.
    expect(refreshes).toBe(2);
    expect(requests.slice(2).map((r) => r.authorization)).toEqual(['Bearer stale', 'Bearer new2']);
  });
});
