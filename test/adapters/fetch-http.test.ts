import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFetchHttpAdapter, DEFAULT_HTTP_TIMEOUT_MS } from '../../src/adapters/fetch-http.ts';
import { HttpError, type HttpErrorKind } from '../../src/adapters/http.ts';

/*
 * What only the fetch adapter does: its own timer and signals around an injected fetch. The
 * contract both HTTP adapters keep is in test/adapters/http-contract.test.ts.
 */

afterEach(() => {
  vi.useRealTimers();
});

/** Awaits a rejection and checks it is an HttpError of `kind`. */
async function expectHttpError(promise: Promise<unknown>, kind: HttpErrorKind): Promise<HttpError> {
  const error = await promise.then(
    () => expect.unreachable('the request should have rejected'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  expect((error as HttpError).kind).toBe(kind);
  return error as HttpError;
}

describe('createFetchHttpAdapter with an injected fetch', () => {
  /** A fetch that settles only when its signal fires. */
  const waitForAbort: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
    });

  it(`times out after ${DEFAULT_HTTP_TIMEOUT_MS} ms by default`, async () => {
    vi.useFakeTimers();
    const http = createFetchHttpAdapter({ fetch: waitForAbort });
    let outcome: unknown = 'pending';
    const request = http.request({ method: 'GET', url: 'http://hub.test/v1/settings' });
    request.catch((error: unknown) => (outcome = error));
    await vi.advanceTimersByTimeAsync(DEFAULT_HTTP_TIMEOUT_MS - 1);
    expect(outcome).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBeInstanceOf(HttpError);
    await expectHttpError(request, 'timeout');
  });

  it('clears its timer once the response is read', async () => {
    vi.useFakeTimers();
    const http = createFetchHttpAdapter({
      fetch: async () => new Response('{"ok":true}', { status: 201, headers: { 'Content-Type': 'application/json' } }),
    });
    const res = await http.request({ method: 'POST', url: 'http://hub.test/v1/events', json: {} });
    expect(res).toEqual({ status: 201, headers: { 'content-type': 'application/json' }, body: { ok: true } });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('classifies by which signal fired, not by error name: a TimeoutError from fetch itself is network', async () => {
    const http = createFetchHttpAdapter({
      fetch: async () => {
        throw new DOMException('some inner timeout', 'TimeoutError');
      },
    });
    await expectHttpError(http.request({ method: 'GET', url: 'http://hub.test/' }), 'network');
  });

  it('classifies a reset during the body as network', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":'));
        controller.error(Object.assign(new TypeError('terminated'), { cause: { code: 'ECONNRESET' } }));
      },
    });
    const http = createFetchHttpAdapter({
      fetch: async () => new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }),
    });
    const error = await expectHttpError(http.request({ method: 'GET', url: 'http://hub.test/' }), 'network');
    expect(error.message).toContain('ECONNRESET');
    expect(error.detail.status).toBe(200);
  });
});
