import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError } from '../../src/adapters/http.ts';
import { createNodeHttpAdapter } from '../../src/adapters/node-http.ts';
import { createNetwork } from '../../src/network/network.ts';
import { SimulatedClock } from 'xstate';
import { hubClockOf, LOOPBACK_TOKEN, onLines, startConnector, startHub, until } from '../support/loopback.ts';
import { startMitmdump } from '../support/proxies.ts';
import { makeTestPki, type TestPki } from '../support/test-pki.ts';
import { deviceConnector, startPostHog, startTlsHub, useEveryPath } from './scenario.ts';

/*
 * The connector behind Debian's mitmproxy (mitmdump, regular proxy mode), which decrypts TLS with
 * a CA of its own: trusted (from the config, or NODE_EXTRA_CA_CERTS in a process started with it),
 * every path works and shows in its log by URL; not trusted, socket and HTTP fail alike.
 */

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

/** Runs test/support/network-child.ts with `env`; resolves with the line it printed. */
function child(env: Record<string, string>): Promise<string> {
  const {
    NODE_EXTRA_CA_CERTS: _extra,
    HTTPS_PROXY: _a,
    HTTP_PROXY: _b,
    https_proxy: _c,
    http_proxy: _d,
    NO_PROXY: _e,
    no_proxy: _f,
    ...inherited
  } = process.env;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/support/network-child.ts'], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let line: string | undefined;
    onLines(proc.stdout, (text) => (line ??= text));
    proc.once('exit', (code) => (line !== undefined ? resolve(line) : reject(new Error(`the child exited ${code} without a line`))));
  });
}

describe('through mitmproxy, which decrypts TLS', () => {
  it('works on every path when its CA is trusted from the config, and its log shows each request by URL', async ({ onTestFinished }) => {
    const mitm = await startMitmdump({ upstreamCa: pki.ca.certFile });
    onTestFinished(() => mitm.stop());
    const { hub, url, port } = await startTlsHub(pki);
    const posthog = await startPostHog();
    const { connector } = deviceConnector(url, { proxy: mitm.url, caFile: mitm.caFile }, posthog.url);
    connector.start();
    await useEveryPath(connector, hub, posthog);
    const origin = `https://127.0.0.1:${port}`;
    for (const request of [
      `POST ${origin}/v1/device-token`,
      `GET ${origin}/v1/connect`,
      `GET ${origin}/v1/settings`,
      `GET ${origin}/v1/whoami`,
      `POST ${origin}/v1/telemetry`,
      `POST http://127.0.0.1:${posthog.port}/batch/`,
    ]) {
      await mitm.logged(new RegExp(request.replace(/[.?/]/g, (c) => `\\${c}`)));
    }
  });

  it('logs a user in through it: the device authorization and token requests show in its log', async ({ onTestFinished }) => {
    const mitm = await startMitmdump({ upstreamCa: pki.ca.certFile });
    onTestFinished(() => mitm.stop());
    // Hub and connector on one simulated clock: the poll interval and the token lifetimes agree.
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url, port } = await startHub({
      staticToken: undefined,
      clock: hubClockOf(clock),
      tls: { cert: pki.server.cert, key: pki.server.key },
      // Long lifetimes and heartbeats: the test runs the simulated clock ahead while a poll is on its way through the proxy.
      heartbeatIntervalMs: 600_000,
      heartbeatTimeoutMs: 600_000,
      tokens: {
        pollIntervalS: 1,
        lifetimeMs: 86_400_000,
        deviceCodeLifetimeMs: 86_400_000,
        users: [{ user_id: 'alice', organizations: [{ id: 'org-a', name: 'Acme', role: 'owner' }] }],
      },
    });
    const { connector } = startConnector(
      url,
      { token: undefined, userLogin: true, network: { proxy: mitm.url, caFile: mitm.caFile } },
      clock,
    );
    connector.start();
    await connector.waitFor((s) => s.auth.state === 'logged_out');
    const prompt = await connector.login();
    await hub.approveDeviceLogin(prompt.userCode, { userId: 'alice' });
    // The poll timer runs on the simulated clock: advance it until the login is through.
    await until(
      () => connector.status.connection.state === 'connected',
      () => connector.status.auth.state !== 'valid' && clock.increment(1_000),
    );
    const origin = `https://127\\.0\\.0\\.1:${port}`;
    await mitm.logged(new RegExp(`POST ${origin}/v1/oauth/device_authorization`));
    await mitm.logged(new RegExp(`POST ${origin}/v1/oauth/token`));
  });

  it('fails on the socket and over HTTP alike with tls_untrusted_certificate when its CA is not trusted', async ({ onTestFinished }) => {
    const mitm = await startMitmdump({ upstreamCa: pki.ca.certFile });
    onTestFinished(() => mitm.stop());
    const { url, port } = await startHub({ tls: { cert: pki.server.cert, key: pki.server.key } });
    // The hub's own CA is trusted; what the connector is shown is mitmproxy's certificate.
    const { connector } = startConnector(url, { network: { proxy: mitm.url, caFile: pki.ca.certFile } });
    connector.start();
    const status = await connector.waitFor((s) => s.connection.reason === 'tls_untrusted_certificate');
    expect(status.connection.networkError).toContain('inspecting proxy');
    const network = createNetwork({ proxy: mitm.url, caFile: pki.ca.certFile });
    onTestFinished(() => network.close());
    const error = await createNodeHttpAdapter({ network })
      .request({ method: 'GET', url: `https://127.0.0.1:${port}/healthz` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).kind).toBe('tls_untrusted_certificate');
  });

  it('trusts its CA from NODE_EXTRA_CA_CERTS and the proxy from HTTPS_PROXY, in a process started with them; without the CA, the same typed failure', async ({
    onTestFinished,
  }) => {
    const mitm = await startMitmdump({ upstreamCa: pki.ca.certFile });
    onTestFinished(() => mitm.stop());
    const { url, port } = await startHub({ tls: { cert: pki.server.cert, key: pki.server.key } });
    const env = { CLOUD_WS_URL: url, CLOUD_TOKEN: LOOPBACK_TOKEN, DEVICE_ID: 'dev-env', HTTPS_PROXY: mitm.url };

    expect(await child({ ...env, NODE_EXTRA_CA_CERTS: mitm.caFile })).toMatch(/^connected whoami:/);
    await mitm.logged(new RegExp(`GET https://127\\.0\\.0\\.1:${port}/v1/whoami`));

    const refused = await child(env);
    expect(refused).toMatch(/^failed tls_untrusted_certificate error:.*tls_untrusted_certificate/);
  });
});
