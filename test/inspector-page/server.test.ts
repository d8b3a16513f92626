import { request } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startInspector } from '../../src/inspector-page/server.ts';
import type { BatchMessage, SnapshotMessage } from '../../src/inspector-page/messages.ts';
import type { SimulatedClock } from 'xstate';
import type { Connector } from '../../src/connector/connector.ts';
import type { Hub } from '../../src/hub/index.ts';
import { connected, startConnector, startHub } from '../support/loopback.ts';
import { openPage, refusedUpgrade, socketUrl } from '../support/inspector-page.ts';

/** A connected connector (timers on a simulated clock) against a loopback hub, and an inspector on it. */
async function inspected(options: Parameters<typeof startInspector>[1] = {}) {
  const { hub, url } = await startHub();
  const { connector, clock } = startConnector(url);
  connector.start();
  await connected(connector);
  const inspector = await startInspector(connector, { host: '127.0.0.1', port: 0, ...options });
  onTestFinished(() => inspector.close());
  return { hub, connector, clock, inspector };
}

/** GET with a forged `Host` or `Origin`, which fetch will not send. */
function getWith(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

/** The hub drops the device; the connector's clock is moved past the retry delay. */
async function dropAndReconnect(hub: Hub, connector: Connector, clock: SimulatedClock): Promise<void> {
  const before = connector.status.connection.sessionId;
  hub.faults.dropDevice('dev-1');
  const lost = await connector.waitFor((s) => s.connection.state === 'disconnected');
  clock.increment(lost.connection.retryInMs ?? 0);
  await connector.waitFor((s) => s.connection.state === 'connected' && s.connection.sessionId !== before);
}

const transitionsOf = (messages: Array<SnapshotMessage | BatchMessage>, actor: string) =>
  messages
    .flatMap((m) => (m.type === 'snapshot' ? m.transitions : m.records.filter((r) => r.kind === 'transition')))
    .filter((t) => t.actor === actor);

describe('inspector server', () => {
  it('serves one self-contained page on loopback, with a policy that lets it load nothing else', async () => {
    const { inspector } = await inspected();
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await fetch(inspector.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'sha256-[^']+'.*connect-src 'self'/);
    const html = await res.text();
    expect(html).toContain('<title>cloudtether inspector</title>');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
    expect((await fetch(new URL('/elsewhere', inspector.url))).status).toBe(404);
    expect((await fetch(inspector.url, { method: 'POST' })).status).toBe(405);
  });

  it('with a token, refuses the page and the WebSocket without it or with a wrong one (401)', async () => {
    const { inspector } = await inspected({ token: 'open sesame' });
    expect(inspector.url).toMatch(/\/\?token=open%20sesame$/);
    const bare = inspector.url.split('?')[0]!;
    expect((await fetch(bare)).status).toBe(401);
    expect((await fetch(`${bare}?token=open%20sesamE`)).status).toBe(401);
    expect((await fetch(inspector.url)).status).toBe(200);
    expect(await refusedUpgrade(socketUrl(bare))).toBe(401);
    expect(await refusedUpgrade(`${socketUrl(bare)}?token=open`)).toBe(401);
    const page = await openPage(inspector.url);
    expect((await page.next(() => true)).type).toBe('snapshot');
  });

  it('without a token, refuses a DNS-rebound Host and a WebSocket opened by another site (403)', async () => {
    const { inspector } = await inspected();
    const { host } = new URL(inspector.url);
    expect(await getWith(inspector.url, { host: `attacker.example:${new URL(inspector.url).port}` })).toBe(403);
    expect(await getWith(inspector.url, { host: `localhost:${new URL(inspector.url).port}` })).toBe(200);
    expect(await refusedUpgrade(socketUrl(inspector.url), { origin: 'http://attacker.example' })).toBe(403);
    expect(await refusedUpgrade(socketUrl(inspector.url), { origin: 'null' })).toBe(403);
    const page = await openPage(inspector.url);
    expect(page.ws.readyState).toBe(page.ws.OPEN);
    expect(host).toMatch(/^127\.0\.0\.1:/);
  });

  it('gives a page that connects late the present first (actors, statecharts, transitions, status), then live batches', async () => {
    const { hub, connector, clock, inspector } = await inspected();
    await dropAndReconnect(hub, connector, clock);

    const page = await openPage(inspector.url);
    const snapshot = (await page.next(() => true)) as SnapshotMessage;
    expect(snapshot.type).toBe('snapshot');
    expect(snapshot.actors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: 'supervisor', machine: 'supervisor', status: 'active' }),
        expect.objectContaining({ id: 'supervisor/connection', machine: 'connection', states: ['online', 'online.connected'] }),
        expect.objectContaining({ id: 'supervisor/heartbeat', machine: 'heartbeat' }),
      ]),
    );
    expect(snapshot.status.connection).toMatchObject({ state: 'connected', attempt: expect.any(Number) });
    expect(snapshot.executions).toMatchObject({ running: 0, queued: 0, maxConcurrency: 4, outboxDepth: 0 });
    const path = transitionsOf([snapshot], 'supervisor/connection').map((t) => `${t.from.at(-1)} > ${t.to.at(-1)}`);
    expect(path).toEqual(expect.arrayContaining(['online.connected > disconnected', 'online.connecting.handshaking > online.connected']));
    // The statecharts are in the snapshot or follow it.
    await page.next(
      (m) =>
        (m.type === 'snapshot' && m.charts.some((c) => c.machine === 'connection')) ||
        (m.type === 'chart' && m.chart.machine === 'connection'),
    );

    await dropAndReconnect(hub, connector, clock);
    await page.next(
      (m) =>
        m.type === 'batch' &&
        m.records.some((r) => r.kind === 'transition' && r.actor === 'supervisor/connection' && r.to.includes('disconnected')),
    );
    const back = (await page.next(
      (m) =>
        m.type === 'batch' &&
        m.records.some(
          (r) =>
            r.kind === 'transition' && r.actor === 'supervisor/connection' && r.to.includes('online.connected') && r.seq > snapshot.seq,
        ),
    )) as BatchMessage;
    expect(back.status?.connection.state).toBe('connected');
    // Nothing is repeated between the snapshot and the batches the page applies.
    const seqs = page.messages.flatMap((m) => (m.type === 'batch' ? m.records.map((r) => r.seq) : []));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('closes itself, and every page with 1001, when the connector stops', async () => {
    const { connector, clock, inspector } = await inspected();
    const page = await openPage(inspector.url);
    const stopped = connector.stop();
    clock.increment(5_000);
    await stopped;
    expect(await page.closed).toEqual({ code: 1001, reason: 'connector stopped' });
    await expect(fetch(inspector.url)).rejects.toThrow();
    await inspector.close(); // idempotent
  });

  it('takes garbage from a page without harm: ignored, or that socket alone closed when too big', async () => {
    const { hub, connector, clock, inspector } = await inspected();
    const rude = await openPage(inspector.url);
    const polite = await openPage(inspector.url);
    rude.ws.send('{"type":"snapshot","actors":');
    rude.ws.send(Buffer.from([0xff, 0x00, 0xfe]));
    rude.ws.send(JSON.stringify({ type: 'select', actor: '__proto__' }));
    rude.ws.send('x'.repeat(64 * 1024));
    expect((await rude.closed).code).toBe(1009);

    await dropAndReconnect(hub, connector, clock);
    await polite.next((m) => m.type === 'batch' && m.records.some((r) => r.kind === 'transition' && r.to.includes('disconnected')));
    expect(polite.ws.readyState).toBe(polite.ws.OPEN);
    expect((await fetch(inspector.url)).status).toBe(200);
    expect(connector.status.supervisor.state).toBe('running');
  });
});
