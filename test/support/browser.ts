import { type Browser, chromium } from 'playwright-core';
import { onTestFinished } from 'vitest';

/** Debian's chromium, installed by scripts/ensure-browser.sh (the pretest script). */
export const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium for one test, closed when it ends. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  onTestFinished(() => browser.close());
  return browser;
}
