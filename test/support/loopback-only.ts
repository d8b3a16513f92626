import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';

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

// The connector's default HTTP adapter and `ws` use node:http and node:https: a lookup of any
// other host fails at once there too, as ENOTFOUND.
for (const module of [http, https]) {
  const realRequest = module.request;
  const guarded = ((...args: Parameters<typeof http.request>) => {
    const [first, second] = args;
    const target = typeof first === 'string' || first instanceof URL ? new URL(first) : undefined;
    const options = (target ? (typeof second === 'object' ? second : {}) : first) as http.RequestOptions;
    const host = (target?.hostname ?? options.hostname ?? options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    if (!LOOPBACK.has(host) && host !== '::1') {
      const lookup: http.RequestOptions['lookup'] = (name, _options, callback) =>
        (callback as (error: Error) => void)(
          Object.assign(new Error(`getaddrinfo ENOTFOUND ${name} (tests reach loopback only)`), { code: 'ENOTFOUND' }),
        );
      if (target) return realRequest(target, { ...options, lookup }, ...(args.slice(typeof second === 'object' ? 2 : 1) as []));
      return realRequest({ ...options, lookup }, ...(args.slice(1) as []));
    }
    return realRequest(...args);
  }) as typeof http.request;
  module.request = guarded;
}
syncBuiltinESMExports();
