// Writes docs/images/inspector.png: the inspector on the demo's connector, connected again after
// the hub dropped its socket, with the transitions that led there. Run: npx tsx scripts/screenshot-inspector.ts
import { mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { chromium } from 'playwright-core';
import { startDemo } from '../src/cli/commands/demo-scenario.ts';
import { silentLogger } from '../src/log/logger.ts';

const OUT = 'docs/images/inspector.png';
const scheme = process.argv.includes('--light') ? 'light' : 'dark';

const demo = await startDemo({
  json: false,
  out: new Writable({ write: (_chunk, _encoding, done) => done() }),
  logger: silentLogger(),
  inspect: true,
});
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, colorScheme: scheme });
  await page.goto(demo.inspector!.url);
  const connected = () => demo.connector.waitFor((s) => s.connection.state === 'connected');
  await connected();
  await demo.connector.waitFor((s) => s.heartbeat.reason === 'acknowledged');
  const before = demo.connector.status.connection.sessionId;
  demo.hub.faults.dropDevice('demo-device');
  await demo.connector.waitFor((s) => s.connection.state === 'connected' && s.connection.sessionId !== before);
  await demo.connector.waitFor((s) => s.heartbeat.reason === 'acknowledged');
  // The page has drawn the connection chart with `connected` lit, and the reconnect is in the list.
  await page.waitForSelector('#chart svg g.state.active[data-path="online.connected"]');
  await page.waitForFunction("document.querySelectorAll('#transitions tbody tr').length >= 10");
  mkdirSync('docs/images', { recursive: true });
  await page.screenshot({ path: OUT });
  console.log(`wrote ${OUT}`);
} finally {
  await browser.close();
  await demo.stop();
}
