/**
 * Rounds, medians and the printed table every benchmark shares. A benchmark measures its
 * subject and its baseline in the same process run, a warm-up first, then several rounds; it
 * reports the median and the spread ((max - min) / |median|) of each, and the ratio of the
 * subject's median to the baseline's.
 */

/** How a figure is read: `higher` is better (a rate), `lower` is better (a time, a size). */
export type Better = 'higher' | 'lower';

/** One measured figure: its rounds, summarised. */
export interface Figure {
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  /**
   * (max - min) / |median|: never negative, also for a figure that is a difference and can be
   * (an overhead over a baseline); 0 for a single round or a median of 0.
   */
  spread: number;
  rounds: number;
  better: Better;
}

/** One row of a report: a figure and, where it has one, its baseline and the target it is held to. */
export interface Row {
  figure: Figure;
  /** The baseline this figure is compared with (measured in the same run). */
  baseline?: Figure;
  /** A target in words, e.g. `≥ 0.7x raw ws`; `met` says whether this run met it. */
  target?: { text: string; met: boolean };
}

/** A benchmark's printed result. */
export interface Report {
  title: string;
  /** What was measured and how, in one or two lines. */
  setup: string;
  rows: Row[];
  /** Anything else worth printing (a distribution, a note). */
  notes?: string[];
}

/** Options every benchmark gets from `bench/main.ts`. */
export interface BenchOptions {
  /** A seconds-long run for CI: few rounds, small sizes, no targets judged. */
  smoke: boolean;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The value at quantile `q` (0..1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Summarises the rounds of one figure. */
export function figure(name: string, unit: string, values: readonly number[], better: Better): Figure {
  if (values.length === 0) throw new Error(`no rounds for ${name}`);
  const m = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { name, unit, median: m, min, max, spread: m === 0 ? 0 : (max - min) / Math.abs(m), rounds: values.length, better };
}

/**
 * Runs `measure` once to warm up, then `rounds` times, and returns what each round returned.
 * Rounds run one after another, never overlapping.
 */
export async function inRounds<T>(
  rounds: number,
  measure: (round: number) => Promise<T>,
  { warmup = 1 }: { warmup?: number } = {},
): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await measure(-1 - i);
  const results: T[] = [];
  for (let i = 0; i < rounds; i++) results.push(await measure(i));
  return results;
}

function formatValue(value: number, unit: string): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : Math.abs(value) >= 1 ? 2 : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

/** The report as aligned lines, for a terminal. */
export function formatReport(report: Report): string {
  const lines = [`## ${report.title}`, report.setup];
  const width = Math.max(...report.rows.map((row) => row.figure.name.length), 10);
  for (const { figure: f, baseline, target } of report.rows) {
    const parts = [
      f.name.padEnd(width),
      formatValue(f.median, f.unit).padStart(14),
      `±${(f.spread * 100).toFixed(0)}%`.padStart(6),
      `n=${f.rounds}`,
    ];
    // Always subject / baseline: for a rate above 1 is better, for a time or a size below 1 is.
    // A baseline of 0 (no scavenge in a smoke run) has no ratio.
    if (baseline && baseline.median !== 0) parts.push(`${(f.median / baseline.median).toFixed(2)}x ${baseline.name}`);
    if (target) parts.push(`target ${target.text}: ${target.met ? 'met' : 'MISSED'}`);
    lines.push(parts.join('  '));
  }
  for (const note of report.notes ?? []) lines.push(`  ${note}`);
  return lines.join('\n');
}
