import { createHash } from 'node:crypto';
import type { Statechart } from '../graph/statechart.ts';
import type { ChartLayout } from './chart-layout.ts';
import { precomputedLayouts } from './layouts.generated.ts';

/**
 * What a precomputed layout is filed under: a hash of the chart as `readStatechart`
 * (src/graph/statechart.ts) reads it. A machine whose states or transitions changed hashes
 * differently, so it is laid out again rather than drawn with a stale layout.
 */
export function chartKey(chart: Statechart): string {
  return createHash('sha256').update(JSON.stringify(chart)).digest('hex');
}

/** The layout computed at development time for exactly this chart, if there is one. */
export function precomputedLayout(chart: Statechart): ChartLayout | undefined {
  const key = chartKey(chart);
  return Object.hasOwn(precomputedLayouts, key) ? precomputedLayouts[key] : undefined;
}
