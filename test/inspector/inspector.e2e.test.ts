import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startDemo } from '../../src/cli/demo.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { launchBrowser } from '../support/browser.ts';

const CONNECTED_BOX = '#chart[data-actor="supervisor/connection"] g.state.active[data-path="online.connected"]';
const CONNECTION_ROWS = '#transitions tbody tr[data-actor="supervisor/connection"]';

/** In the page: the newest row leaving `connected` has a newer row re-entering it (rows are newest first). */
/**
 * In the page: a row where connection left `online.connected`, after (above) one where it came
 * back. A function, not a string: Playwright runs a string predicate with `eval`, which the
 * page's CSP refuses (a CI run failed with that EvalError).
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
  const page = globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null; className: string } | null } };
  const card = page.document.querySelector('#conn-state');
  return card?.textContent === 'connected' && card.className.includes('ok');
};

describe('inspector in a browser', () => {
  it('shows the demo connector leave connected when the hub drops it, and come back', { timeout: 60_000 }, async () => {
    const demo = await startDemo({ json: true, out: new Writable({ write: (_chunk, _encoding, done) => done() }), logger: silentLogger(), inspect: true });
    onTestFinished(() => demo.stop());
    const browser = await launchBrowser();
    const page = await browser.newPage();
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(demo.inspector!.url);

    await page.waitForSelector(CONNECTED_BOX);
    // Waited for, not read once: the demo's own scenario drops and silences the hub meanwhile,
    // so the card can be between two connections at any moment.
    await page.waitForFunction(connectedCard);

    const before = demo.connector.status.connection.sessionId;
    demo.hub.faults.dropDevice('demo-device');
    await demo.connector.waitFor((s) => s.connection.state === 'connected' && s.connection.sessionId !== before);

    await page.waitForSelector(`${CONNECTION_ROWS}[data-from="online.connected"]`);
    await page.waitForFunction(leftAndBack, CONNECTION_ROWS);
    await page.waitForSelector(CONNECTED_BOX);
    const left = page.locator(`${CONNECTION_ROWS}[data-from="online.connected"]`).first();
    expect(await left.locator('td.to').textContent()).not.toBe('online.connected');
    expect(await left.locator('td.event').textContent()).toMatch(/socket\.closed|link\.dead/);
    // The actor tree and the machine tabs are there too.
    expect(await page.locator('#tree [data-actor="supervisor/heartbeat"]').count()).toBe(1);
    expect(await page.locator('#tabs [data-actor="supervisor/auth"]').count()).toBe(1);

    // Everything the page loaded came from the inspector itself.
    const origin = new URL(demo.inspector!.url).origin;
    expect(requests.filter((url) => !url.startsWith(origin) && !url.startsWith(origin.replace('http', 'ws')))).toEqual([]);
    expect(errors).toEqual([]);
  });
});
