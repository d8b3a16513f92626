import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { InspectionStream } from '../../src/inspection-events/stream.ts';
import { startInspector } from '../../src/inspector-page/server.ts';
import { launchBrowser } from '../support/browser.ts';
import { withInspection } from '../support/inspector-page.ts';
import { startConnector } from '../support/loopback.ts';

/*
 * The page where elkjs is not installed and a machine has no precomputed layout: the rest of the
 * page works and the chart's place says what to install. elkjs's import is made to fail as Node
 * fails it for a package that is not there (as in test/inspector-page/missing-packages.test.ts).
 */
vi.mock('../../src/util/optional-package.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/util/optional-package.ts')>();
  const notInstalled = Object.assign(new Error("Cannot find package 'elkjs' imported from /app/dist/inspector-page/elk-engine.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
  return {
    ...real,
    importOptional: <T>(name: string, neededBy: string, load: () => Promise<T>) =>
      real.importOptional(name, neededBy, name === 'elkjs' ? () => Promise.reject(notInstalled) : load),
  };
});

const hostMachine = createMachine({ id: 'host-machine', initial: 'idle', states: { idle: { on: { go: 'busy' } }, busy: {} } });

describe('inspector page without elkjs', () => {
  it('shows the actor, and in the chart’s place the error that says to install elkjs', async () => {
    const { connector } = startConnector('ws://127.0.0.1:9/unused');
    const stream = new InspectionStream({ clock: { now: Date.now } });
    const actor = createActor(hostMachine, { inspect: (event) => stream.inspect(event) }).start();
    onTestFinished(() => {
      actor.stop();
    });
    const host = withInspection(connector, stream);
    const inspector = await startInspector(host);
    onTestFinished(() => inspector.close());

    const browser = await launchBrowser();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(inspector.url);

    await page.waitForSelector('#chart .chart-error');
    expect(await page.textContent('#chart .chart-error')).toMatch(
      /^cannot draw the host-machine statechart: elkjs is not installed \(.+\); run `npm install elkjs`$/,
    );
    expect(await page.locator('#tree [data-actor="host-machine"]').count()).toBe(1);
    expect(errors).toEqual([]);
  });
});
