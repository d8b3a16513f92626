import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError } from '../../src/adapters/http.ts';
import { createNodeHttpAdapter } from '../../src/adapters/node-http.ts';
import { createNetwork } from '../../src/network/network.ts';
import { captureLogs } from '../support/log-capture.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';
import { freePort, type ProxyProcess, startTinyproxy } from '../support/proxies.ts';
import { makeTestPki, type TestPki } from '../support/test-pki.ts';
import { deviceConnector, startPostHog, startTlsHub, useEveryPath } from './scenario.ts';

/*
 * The connector behind Debian's tinyproxy with Basic auth: every connection goes through it (a
 * CONNECT tunnel to the TLS hub, forwarding to the plain-HTTP PostHog stand-in), and the
 * failures a proxy causes read as what they are.
 */

const AUTH = { user: 'device', password: 'pr0xy-pa55word' };

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => pki.remove());

async function tinyproxy(port?: number): Promise<ProxyProcess> {
  const proxy = await startTinyproxy({ auth: AUTH, ...(port !== undefined && { port }) });
  return proxy;
}

describe('through tinyproxy with Basic auth', () => {
  it('connects, fetches tokens, syncs settings, runs an execution and sends telemetry, all through the proxy; its password is in no log, recording or inspection event', async ({
    onTestFinished,
  }) => {
    const proxy = await tinyproxy();
    onTestFinished(() => proxy.stop());
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-net-rec-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const { hub, url, port } = await startTlsHub(pki);
    const posthog = await startPostHog();
    const { logger, lines } = captureLogs('debug');
    const inspected: string[] = [];
    const recording = join(dir, 'session.jsonl');
    const { connector } = deviceConnector(url, { proxy: proxy.url, caFile: pki.ca.certFile }, posthog.url, {
      logger,
      record: { file: recording },
      inspect: (event) => inspected.push(JSON.stringify(event)),
    });
    connector.start();
    await useEveryPath(connector, hub, posthog);

    // The hub's port only ever through a CONNECT tunnel; PostHog's through forwarding.
    await proxy.logged(new RegExp(`Request \\(file descriptor \\d+\\): CONNECT 127\\.0\\.0\\.1:${port} `));
    await proxy.logged(new RegExp(`Request \\(file descriptor \\d+\\): POST http://127\\.0\\.0\\.1:${posthog.port}/batch/ `));
    expect(
      proxy.log
        .filter((line) => line.includes(`127.0.0.1:${port}`))
        .every((line) => /CONNECT 127\.0\.0\.1/.test(line) || !/Request/.test(line)),
    ).toBe(true);

    await connector.stop();
    const everything = [lines.join('\n'), readFileSync(recording, 'utf8'), inspected.join('\n')];
    for (const text of everything) expect(text).not.toContain(AUTH.password);
    expect(readFileSync(recording, 'utf8')).toContain('[redacted]@127.0.0.1');
  });

  it('says proxy_auth_required for wrong proxy credentials, on the socket and over HTTP', async ({ onTestFinished }) => {
    const proxy = await tinyproxy();
    onTestFinished(() => proxy.stop());
    const { url, port } = await startTlsHub(pki);
    const wrong = `http://${AUTH.user}:not-the-password@127.0.0.1:${proxy.port}`;
    const { connector } = deviceConnector(url, { proxy: wrong, caFile: pki.ca.certFile }, 'http://127.0.0.1:9');
    // Device mode fetches a token first, over HTTP: that is what fails first.
    connector.start();
    const network = createNetwork({ proxy: wrong, caFile: pki.ca.certFile });
    onTestFinished(() => network.close());
    const error = await createNodeHttpAdapter({ network })
      .request({ method: 'GET', url: `https://127.0.0.1:${port}/healthz` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).kind).toBe('proxy_auth_required');
    expect((error as HttpError).message).toContain(`127.0.0.1:${proxy.port}`);
    expect((error as HttpError).message).not.toContain('not-the-password');
    await until(() => connector.status.auth.reason.includes('fetch'));

    // The socket: a static-token connector through the same proxy.
    const { url: staticUrl } = await startHub({ tls: { cert: pki.server.cert, key: pki.server.key } });
    const socketOnly = startConnector(staticUrl, { network: { proxy: wrong, caFile: pki.ca.certFile } }).connector;
    socketOnly.start();
    const status = await socketOnly.waitFor((s) => s.connection.reason === 'proxy_auth_required');
    expect(status.connection.state).toBe('disconnected');
    expect(status.connection.networkError).toContain(`127.0.0.1:${proxy.port}`);
    expect(status.connection.networkError).not.toContain('not-the-password');
  });

  it('says proxy_unreachable when nothing listens at the proxy address, on the socket and over HTTP', async ({ onTestFinished }) => {
    const dead = `http://${AUTH.user}:${AUTH.password}@127.0.0.1:${await freePort()}`;
    const { url, port } = await startHub({ tls: { cert: pki.server.cert, key: pki.server.key } });
    const { connector } = startConnector(url, { network: { proxy: dead, caFile: pki.ca.certFile } });
    connector.start();
    const status = await connector.waitFor((s) => s.connection.reason === 'proxy_unreachable');
    expect(status.connection.networkError).toMatch(/cannot reach the proxy http:\/\/\[redacted\]@127\.0\.0\.1:\d+/);
    const network = createNetwork({ proxy: dead });
    onTestFinished(() => network.close());
    const error = await createNodeHttpAdapter({ network })
      .request({ method: 'GET', url: `https://127.0.0.1:${port}/healthz` })
      .catch((e: unknown) => e);
    expect((error as HttpError).kind).toBe('proxy_unreachable');
  });

  it('goes direct to hosts in NO_PROXY, and through the proxy to the others', async ({ onTestFinished }) => {
    const proxy = await tinyproxy();
    onTestFinished(() => proxy.stop());
    const { hub, url, port } = await startTlsHub(pki);
    const posthog = await startPostHog();
    // The hub is bypassed by its port; PostHog still goes through the proxy.
    const { connector } = deviceConnector(url, { proxy: proxy.url, noProxy: [`127.0.0.1:${port}`], caFile: pki.ca.certFile }, posthog.url);
    connector.start();
    await useEveryPath(connector, hub, posthog);
    await proxy.logged(new RegExp(`POST http://127\\.0\\.0\\.1:${posthog.port}/batch/`));
    expect(proxy.log.some((line) => line.includes(`127.0.0.1:${port}`))).toBe(false);
  });

  it('reconnects through a proxy that died mid-session and came back, and loses nothing', async ({ onTestFinished }) => {
    let proxy = await tinyproxy();
    onTestFinished(() => proxy.stop());
    const { hub, url } = await startTlsHub(pki);
    const posthog = await startPostHog();
    const { connector, clock } = deviceConnector(url, { proxy: proxy.url, caFile: pki.ca.certFile }, posthog.url);
    connector.start();
    await useEveryPath(connector, hub, posthog, 'before');
    const firstSession = connector.status.connection.sessionId;

    await proxy.stop();
    await connector.waitFor((s) => s.connection.state !== 'connected');
    // Dispatched while the device is away: delivered once it is back.
    const queued = hub.execute(
      'dev-1',
      { request_id: 'while-away', job_type: 'tool', tool_name: 'echo', inputs: { text: 'queued' } },
      { tenantId: 'local' },
    );
    // While the proxy is down the attempts fail (proxy_unreachable); the simulated clock runs the backoff.
    await until(
      () => connector.status.connection.reason === 'proxy_unreachable',
      () => clock.increment(1_000),
    );
    proxy = await tinyproxy(proxy.port);
    await until(
      () => connector.status.connection.state === 'connected',
      () => clock.increment(1_000),
    );
    expect(connector.status.connection.sessionId).not.toBe(firstSession);
    expect(await queued.result).toMatchObject({ status: 'completed', data: { result: { text: 'queued' } } });
    await useEveryPath(connector, hub, posthog, 'after');
    await connected(connector);
  });
});
