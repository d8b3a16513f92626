import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeHttpAdapter } from '../../src/adapters/node-http.ts';
import { HttpError, type HttpErrorKind } from '../../src/adapters/http.ts';
import type { NetworkPolicyInput } from '../../src/network/network-policy.ts';
import { createNetwork } from '../../src/network/network.ts';
import { connected, startConnector, startHub } from '../support/loopback.ts';
import { makeTestPki, type TestPki } from '../support/test-pki.ts';
import { startUserHub } from '../hub/user-helpers.ts';

/*
 * A hub that terminates TLS with a private CA's certificate, on loopback: the connector's socket
 * and its HTTP adapter trust it only when told to, and say why when they do not.
 */

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

const tlsHub = (which: 'server' | 'otherHost' = 'server', clientCa?: string) =>
  startHub({ tls: { cert: pki[which].cert, key: pki[which].key, ...(clientCa && { clientCa }) } });

/** Starts a connector with this network policy; resolves with the status once the first attempt is over. */
async function firstAttempt(url: string, network: NetworkPolicyInput) {
  const { connector } = startConnector(url, { network: { proxy: 'none', ...network } });
  connector.start();
  return connector.waitFor(
    (s) => s.connection.state === 'connected' || (s.connection.state === 'disconnected' && s.connection.attempt > 0),
  );
}

async function httpGet(port: number, network: NetworkPolicyInput) {
  const net = createNetwork({ proxy: 'none', ...network });
  try {
    return await createNodeHttpAdapter({ network: net }).request({
      method: 'GET',
      url: `https://127.0.0.1:${port}/healthz`,
      timeoutMs: 10_000,
    });
  } finally {
    net.close();
  }
}

async function httpFailure(port: number, network: NetworkPolicyInput, kind: HttpErrorKind): Promise<HttpError> {
  const error = await httpGet(port, network).then(
    () => expect.unreachable('the request should have failed'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  expect((error as HttpError).kind).toBe(kind);
  return error as HttpError;
}

describe('a hub that terminates TLS', () => {
  it('serves wss:// and https:// on one port', async () => {
    const { url } = await tlsHub();
    expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/v1\/connect$/);
  });

  it('is refused without its CA, socket and HTTP alike, with tls_untrusted_certificate naming the host and the remedy', async () => {
    const { url, port } = await tlsHub();
    const status = await firstAttempt(url, {});
    expect(status.connection.reason).toBe('tls_untrusted_certificate');
    expect(status.connection.networkError).toContain(`127.0.0.1:${port}`);
    expect(status.connection.networkError).toMatch(/caFile|NODE_EXTRA_CA_CERTS/);
    const error = await httpFailure(port, {}, 'tls_untrusted_certificate');
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });

  it('is accepted with its CA from the config, as text or as a file, socket and HTTP alike', async () => {
    const { url, port } = await tlsHub();
    const { connector } = startConnector(url, { network: { proxy: 'none', caFile: pki.ca.certFile } });
    connector.start();
    await connected(connector);
    expect(connector.status.connection.networkError).toBeUndefined();
    expect(await httpGet(port, { ca: pki.ca.cert })).toMatchObject({ status: 200, body: { ok: true } });
  });

  it("hands out https:// links: the device login's verification URI", async () => {
    const { port } = await startUserHub({ tls: { cert: pki.server.cert, key: pki.server.key } });
    const net = createNetwork({ proxy: 'none', ca: pki.ca.cert });
    try {
      const answer = await createNodeHttpAdapter({ network: net }).request({
        method: 'POST',
        url: `https://127.0.0.1:${port}/v1/oauth/device_authorization`,
        json: { client_id: 'device-1' },
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ verification_uri: `https://127.0.0.1:${port}/v1/oauth/verify` });
    } finally {
      net.close();
    }
  });

  it('refuses a certificate for another host name with tls_hostname_mismatch', async () => {
    const { url, port } = await tlsHub('otherHost');
    const status = await firstAttempt(url, { caFile: pki.ca.certFile });
    expect(status.connection.reason).toBe('tls_hostname_mismatch');
    await httpFailure(port, { caFile: pki.ca.certFile }, 'tls_hostname_mismatch');
  });

  it('checks SPKI pins: the hub key pinned connects, another pin is tls_pin_mismatch', async () => {
    const { url, port } = await tlsHub();
    const wrong = { caFile: pki.ca.certFile, pins: [pki.client.pin] };
    expect((await firstAttempt(url, wrong)).connection.reason).toBe('tls_pin_mismatch');
    await httpFailure(port, wrong, 'tls_pin_mismatch');

    const right = { caFile: pki.ca.certFile, pins: [pki.client.pin, `sha256/${pki.server.pin}`] };
    expect((await firstAttempt(url, right)).connection.state).toBe('connected');
    expect((await httpGet(port, right)).status).toBe(200);
  });

  it('requires a client certificate when it has a client CA: refused without one, connected with it', async () => {
    const { url, port } = await tlsHub('server', pki.ca.cert);
    const without = await firstAttempt(url, { caFile: pki.ca.certFile });
    expect(without.connection.state).toBe('disconnected');
    expect(without.connection.reason).toBe('tls_client_certificate_rejected');
    await httpFailure(port, { caFile: pki.ca.certFile }, 'tls_client_certificate_rejected');

    const mtls = { caFile: pki.ca.certFile, clientCert: { certFile: pki.client.certFile, privateKeyFile: pki.client.keyFile } };
    expect((await firstAttempt(url, mtls)).connection.state).toBe('connected');
    expect((await httpGet(port, mtls)).status).toBe(200);
  });
});
