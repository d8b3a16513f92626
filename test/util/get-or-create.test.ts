import { describe, expect, it } from 'vitest';
import { getOrCreate } from '../../src/util/get-or-create.ts';

describe('getOrCreate', () => {
  it('makes and stores a value once, then returns the stored one', () => {
    const map = new Map<string, string[]>();
    let made = 0;
    const first = getOrCreate(map, 'k', () => (made++, []));
    first.push('a');
    expect(getOrCreate(map, 'k', () => (made++, []))).toBe(first);
    expect(map.get('k')).toEqual(['a']);
    expect(made).toBe(1);
  });
});
