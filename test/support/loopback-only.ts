/**
 * Tests talk to loopback only. A connector in a test that points at a made-up host
 * (`ws://hub.test`) and forgot to pass an HTTP adapter would otherwise make real DNS lookups and
 * requests from the settings or token actors: here such a request fails at once, as a network
 * error would, and the test's machines handle it as one.
 */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const realFetch = globalThis.fetch;

globalThis.fetch = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  if (!LOOPBACK.has(url.hostname)) return Promise.reject(new TypeError(`fetch failed: tests reach loopback only, not ${url.hostname}`));
  return realFetch(input, init);
};
