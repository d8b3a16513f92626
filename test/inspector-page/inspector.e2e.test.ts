import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startDemo } from '../../src/cli/commands/demo-scenario.ts';
import { startInspector } from '../../src/inspector-page/server.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { launchBrowser } from '../support/browser.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';

const CONNECTED_BOX = '#chart[data-actor="supervisor/connection"] g.state.active[data-path="online.connected"]';
const CONNECTION_ROWS = '#transitions tbody tr[data-actor="supervisor/connection"]';

/**
 * In the page: a row where connection left `online.connected`, after (above) one where it came
 * back (rows are newest first). A function, not a string: Playwright runs a string predicate with
 * `eval`, which the page's CSP refuses.
 */
const leftAndBack = (selector: string): boolean => {
  const page = globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ dataset: Record<string, string> }> } };
  const rows = [...page.document.querySelectorAll(selector)];
  const left = rows.findIndex((row) => row.dataset.from === 'online.connected');
  const back = rows.findIndex((row) => row.dataset.to === 'online.connected');
  return left > 0 && back >= 0 && back < left;
};

/** In the page: the connection card says `connected`, in the tone the page gives that state. */
const connectedCard = (): boolean => {
  const page = globalThis as unknown as {
    document: { querySelector(s: string): { textContent: string | null; className: string } | null };
  };
  const card = page.document.querySelector('#conn-state');
  return card?.textContent === 'connected' && card.className.includes('ok');
};

/*
 * The connector runs on a SimulatedClock: no heartbeat, backoff or token timer fires unless the
 * test moves the clock, so the only transitions the page shows are the ones the test causes, and
 * a busy machine changes how long each step takes, never what the page shows.
 */
describe('inspector in a browser', () => {
  it('shows the connector leave connected when the hub drops it, and come back', { timeout: 120_000 }, async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    connector.start();
    await connected(connector);
    const inspector = await startInspector(connector, { logger: silentLogger() });
    onTestFinished(() => inspector.close());

    const browser = await launchBrowser();
    const page = await browser.newPage();
    page.setDefaultTimeout(90_000);
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(inspector.url);

    await page.waitForSelector(CONNECTED_BOX);
    await page.waitForFunction(connectedCard);

    const before = connector.status.connection.sessionId;
    hub.faults.dropDevice('dev-1');
    // The reconnect waits out its backoff on the simulated clock.
    await until(
      () => connector.status.connection.state === 'connected' && connector.status.connection.sessionId !== before,
      () => clock.increment(100),
    );

    await page.waitForFunction(leftAndBack, CONNECTION_ROWS);
    await page.waitForSelector(CONNECTED_BOX);
    await page.waitForFunction(connectedCard);
    const left = page.locator(`${CONNECTION_ROWS}[data-from="online.connected"]`).first();
    expect(await left.locator('td.to').textContent()).not.toBe('online.connected');
    expect(await left.locator('td.event').textContent()).toMatch(/socket\.closed|link\.dead/);
    // The actor tree and the machine tabs are there too.
    expect(await page.locator('#tree [data-actor="supervisor/heartbeat"]').count()).toBe(1);
    expect(await page.locator('#tabs [data-actor="supervisor/auth"]').count()).toBe(1);

    // Everything the page loaded came from the inspector itself.
    const origin = new URL(inspector.url).origin;
    expect(requests.filter((url) => !url.startsWith(origin) && !url.startsWith(origin.replace('http', 'ws')))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('serves the demo’s connector (`demo --inspect`): every actor of the supervisor in the tree', { timeout: 120_000 }, async () => {
    const demo = await startDemo({
      json: true,
      out: new Writable({ write: (_chunk, _encoding, done) => done() }),
      logger: silentLogger(),
      inspect: true,
    });
    onTestFinished(() => demo.stop());
    const browser = await launchBrowser();
    const page = await browser.newPage();
    page.setDefaultTimeout(90_000);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(demo.inspector!.url);

    // The tree holds the supervisor's actors whatever step the demo's scenario is at.
    for (const actor of ['supervisor/auth', 'supervisor/connection', 'supervisor/heartbeat']) {
      await page.waitForSelector(`#tree [data-actor="${actor}"]`);
    }
    expect(errors).toEqual([]);
  });
});
