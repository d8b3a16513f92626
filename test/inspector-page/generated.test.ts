import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONNECTOR_MACHINES, LAYOUTS_MODULE, layoutsModule } from '../../scripts/inspector-layouts.ts';
import { PAGE_ASSETS_MODULE, pageAssetsModule } from '../../scripts/inspector-page-assets.ts';
import { readStatechart } from '../../src/graph/statechart.ts';
import { precomputedLayout } from '../../src/inspector-page/precomputed.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';

/*
 * The inspector's generated modules: the page's files embedded in JavaScript and the connector's
 * statecharts laid out with ELK (docs/inspector.md, "What is generated").
 */
const REGENERATE = 'is out of date: run `npm run docs` to regenerate it';

describe('the inspector’s generated modules are up to date', () => {
  it(`${PAGE_ASSETS_MODULE} holds every file of src/inspector-page/page/ as it is`, () => {
    expect(readFileSync(PAGE_ASSETS_MODULE, 'utf8'), `${PAGE_ASSETS_MODULE} ${REGENERATE}`).toBe(pageAssetsModule());
  });

  // ELK lays out six charts on this thread: seconds, more on a loaded machine.
  it(`${LAYOUTS_MODULE} holds the layouts ELK computes now`, { timeout: 120_000 }, async () => {
    expect(readFileSync(LAYOUTS_MODULE, 'utf8'), `${LAYOUTS_MODULE} ${REGENERATE}`).toBe(await layoutsModule());
  });

  it.each(CONNECTOR_MACHINES.map((m) => [m.id, m] as const))('%s has a precomputed layout', (_id, machine) => {
    expect(precomputedLayout(readStatechart(machine)), `${machine.id}: ${LAYOUTS_MODULE} ${REGENERATE}`).toBeDefined();
  });

  it('a running connector’s machines (as the inspector gets them) all have one', async () => {
    const { url } = await startHub();
    const { connector } = startConnector(url);
    connector.start();
    await connected(connector);
    connector.channel('generated-test');
    await until(() => connector.inspection.actors().some((a) => a.machine === 'channel'));
    const machines = new Set(connector.inspection.actors().flatMap((a) => (a.machine === undefined ? [] : [a.machine])));
    expect([...machines].sort()).toEqual(CONNECTOR_MACHINES.map((m) => m.id).sort());
    for (const id of machines) {
      expect(precomputedLayout(readStatechart(connector.inspection.machine(id)!)), id).toBeDefined();
    }
  });
});
