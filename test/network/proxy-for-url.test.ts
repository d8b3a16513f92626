import { describe, expect, it } from 'vitest';
import { bypassesProxy, proxyForUrl, shownProxy } from '../../src/network/proxy-for-url.ts';

const at = (url: string, env: Record<string, string>, explicit: { proxy?: string; noProxy?: string[] } = {}) =>
  proxyForUrl(new URL(url), { env, ...explicit })?.href;

describe('proxyForUrl', () => {
  it('takes https_proxy for wss:// and https://, http_proxy for ws:// and http://, then all_proxy', () => {
    const env = { HTTPS_PROXY: 'http://secure:1', HTTP_PROXY: 'http://plain:2', ALL_PROXY: 'http://all:3' };
    expect(at('wss://hub.example.com/v1/connect', env)).toBe('http://secure:1/');
    expect(at('https://hub.example.com/v1/whoami', env)).toBe('http://secure:1/');
    expect(at('ws://hub.example.com/v1/connect', env)).toBe('http://plain:2/');
    expect(at('http://hub.example.com/', env)).toBe('http://plain:2/');
    expect(at('wss://hub.example.com/', { ALL_PROXY: 'http://all:3' })).toBe('http://all:3/');
    expect(at('wss://hub.example.com/', {})).toBeUndefined();
  });

  it('prefers the lower-case variable, as curl does, and reads an empty one as unset', () => {
    expect(at('https://h/', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' })).toBe('http://lower:1/');
    expect(at('https://h/', { https_proxy: ' ', HTTPS_PROXY: 'http://upper:2' })).toBe('http://upper:2/');
    expect(at('https://h/', { no_proxy: 'h', NO_PROXY: '', HTTPS_PROXY: 'http://p:1' })).toBeUndefined();
  });

  it('reads a proxy without a scheme as http://', () => {
    expect(at('https://h/', { HTTPS_PROXY: 'proxy.corp:3128' })).toBe('http://proxy.corp:3128/');
  });

  it('lets an explicit proxy override the environment, and "none" turn proxies off', () => {
    const env = { HTTPS_PROXY: 'http://env:1' };
    expect(at('https://h/', env, { proxy: 'http://explicit:2' })).toBe('http://explicit:2/');
    expect(at('https://h/', env, { proxy: 'none' })).toBeUndefined();
    // An explicit noProxy replaces NO_PROXY, and applies to an explicit proxy too.
    expect(at('https://h/', { ...env, NO_PROXY: 'other' }, { proxy: 'http://explicit:2', noProxy: ['h'] })).toBeUndefined();
  });

  it('shows a proxy without its credentials', () => {
    expect(shownProxy(new URL('http://user:s3cret@proxy.corp:3128'))).toBe('http://[redacted]@proxy.corp:3128');
    expect(shownProxy(new URL('http://proxy.corp:3128'))).toBe('http://proxy.corp:3128');
  });
});

describe('bypassesProxy (NO_PROXY)', () => {
  const bypass = (url: string, ...entries: string[]) => bypassesProxy(new URL(url), entries);

  it('matches a host and its subdomains, with or without a leading dot or *.', () => {
    expect(bypass('https://hub.example.com/', 'example.com')).toBe(true);
    expect(bypass('https://hub.example.com/', '.example.com')).toBe(true);
    expect(bypass('https://hub.example.com/', '*.example.com')).toBe(true);
    expect(bypass('https://example.com/', 'example.com')).toBe(true);
    expect(bypass('https://notexample.com/', 'example.com')).toBe(false);
    expect(bypass('https://HUB.Example.COM/', 'example.com')).toBe(true);
  });

  it('matches everything with *, a port only when given, and IP addresses exactly', () => {
    expect(bypass('https://anything/', '*')).toBe(true);
    expect(bypass('https://h:8443/', 'h:8443')).toBe(true);
    expect(bypass('https://h/', 'h:8443')).toBe(false);
    expect(bypass('wss://h/', 'h:443')).toBe(true);
    expect(bypass('http://127.0.0.1:9/', '127.0.0.1')).toBe(true);
    expect(bypass('http://127.0.0.10:9/', '127.0.0.1')).toBe(false);
    expect(bypass('http://[::1]:9/', '::1')).toBe(true);
    expect(bypass('https://h/', '', ' ')).toBe(false);
  });
});
