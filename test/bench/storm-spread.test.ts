import { describe, expect, it } from 'vitest';
import { busiestWindow, histogram } from '../../bench/storm/spread.ts';

describe('storm spread (bench/storm/spread.ts)', () => {
  it('finds the busiest sliding window, half-open, wherever it starts', () => {
    expect(busiestWindow([0, 10, 50, 120, 130], 100)).toBe(3);
    // Not aligned to multiples of the window: 95..194 holds four.
    expect(busiestWindow([0, 95, 120, 150, 194, 195, 400], 100)).toBe(4);
    // [t, t + window): an arrival exactly one window later is outside.
    expect(busiestWindow([0, 100], 100)).toBe(1);
    expect(busiestWindow([], 100)).toBe(0);
    expect(busiestWindow([7, 7, 7], 100)).toBe(3);
  });

  it('counts arrivals per bin from 0, empty bins included', () => {
    expect(histogram([10, 20, 1_400], 500)).toBe('0-0.5s: 2 | 0.5-1s: 0 | 1-1.5s: 1');
    expect(histogram([], 500)).toBe('0-0.5s: 0');
  });
});
