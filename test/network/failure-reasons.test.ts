import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createSocketActor } from '../../src/actors/socket.ts';
import type { SocketAdapter } from '../../src/adapters/socket.ts';
import { BackoffPolicy } from '../../src/machines/backoff.ts';
import { connectionMachine, connectionStateName, statusOf } from '../../src/machines/connection.ts';
import { classifyNetworkError, NetworkFailure, PIN_MISMATCH_CODE } from '../../src/network/network-failure.ts';
import { flush, underParent } from '../support/harness.ts';

/** A socket adapter whose every attempt fails as the network would: an error, then a close 1006. */
function failingAdapter(error: Error): SocketAdapter {
  return {
    open(_url, handlers) {
      queueMicrotask(() => {
        handlers.onError(error);
        handlers.onClose(1006, '');
      });
      return { send() {}, close() {}, terminate() {}, bufferedAmount: 0 };
    },
  };
}

function connectionOver(adapter: SocketAdapter) {
  const clock = new SimulatedClock();
  const logic = connectionMachine.provide({ actors: { socket: createSocketActor({ adapter }) } });
  const input = {
    url: 'wss://hub.test/v1/connect',
    deviceId: 'dev-1',
    tenantId: 'local',
    policy: BackoffPolicy.parse({}),
    connectTimeoutMs: 10_000,
    closeTimeoutMs: 2_000,
    seed: 1,
    now: () => clock.now(),
  };
  return underParent(logic, input, clock, (event) =>
    event.type === 'connection.token_needed' ? { type: 'token.granted', token: 't' } : undefined,
  );
}

describe('a TLS or proxy failure in the connection status', () => {
  it('is the reason the connection waits to retry, with the message that names host and remedy, and it backs off like any failure', async () => {
    const failure = classifyNetworkError(Object.assign(new Error('pin'), { code: PIN_MISMATCH_CODE }), { host: 'hub.test:443' })!;
    const f = connectionOver(failingAdapter(failure));
    f.child.send({ type: 'connect' });
    await flush();
    const snapshot = f.child.getSnapshot();
    expect(connectionStateName(snapshot.value)).toBe('disconnected');
    const status = statusOf(snapshot);
    expect(status.reason).toBe('tls_pin_mismatch');
    expect(status.attempt).toBeGreaterThanOrEqual(1);
    expect(status.retryInMs).toBeGreaterThanOrEqual(0);
    expect(status.networkError).toMatch(/^tls_pin_mismatch: the public key of hub\.test:443 matches none of network\.pins/);
  });

  it('is connection_refused for an error the network did not name', async () => {
    const f = connectionOver(failingAdapter(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })));
    f.child.send({ type: 'connect' });
    await flush();
    expect(statusOf(f.child.getSnapshot())).toMatchObject({ state: 'disconnected', reason: 'connection_refused' });
    expect(statusOf(f.child.getSnapshot()).networkError).toBeUndefined();
  });
});

describe('classifyNetworkError', () => {
  const route = { host: 'hub.example.com:443' };
  const proxied = { host: 'hub.example.com:443', proxy: 'http://[redacted]@proxy:3128' };
  const code = (value: string) => Object.assign(new Error(value), { code: value });

  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'tls_untrusted_certificate'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls_untrusted_certificate'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'tls_untrusted_certificate'],
    ['CERT_HAS_EXPIRED', 'tls_untrusted_certificate'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls_hostname_mismatch'],
    [PIN_MISMATCH_CODE, 'tls_pin_mismatch'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tls_client_certificate_rejected'],
  ])('reads %s as %s, naming the host', (value, reason) => {
    const failure = classifyNetworkError(code(value), route);
    expect(failure).toBeInstanceOf(NetworkFailure);
    expect(failure?.reason).toBe(reason);
    expect(failure?.message).toContain('hub.example.com:443');
  });

  it('reads a refused or unresolved connection as the proxy unreachable only when there is a proxy', () => {
    expect(classifyNetworkError(code('ECONNREFUSED'), route)).toBeUndefined();
    expect(classifyNetworkError(code('ENOTFOUND'), proxied)?.reason).toBe('proxy_unreachable');
    expect(classifyNetworkError(code('ECONNREFUSED'), proxied)?.message).toContain('http://[redacted]@proxy:3128');
    expect(classifyNetworkError(new Error('no code'), proxied)).toBeUndefined();
  });
});
