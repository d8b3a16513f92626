import { describe, expect, it } from 'vitest';
import { NameNumbers } from '../../src/util/name-numbers.ts';

describe('NameNumbers', () => {
  it('numbers names in the order first met, gives a name met again its number, and the name back', () => {
    const names = new NameNumbers();
    expect(['a', 'b', 'a', 'c', 'b'].map((name) => names.numberOf(name))).toEqual([0, 1, 0, 2, 1]);
    expect([0, 1, 2].map((number) => names.nameOf(number))).toEqual(['a', 'b', 'c']);
  });

  it('numbers no new name past its limit, and still knows the ones it numbered', () => {
    const names = new NameNumbers(2);
    expect(['a', 'b', 'c', 'a', 'c'].map((name) => names.numberOf(name))).toEqual([0, 1, undefined, 0, undefined]);
    expect(names.nameOf(1)).toBe('b');
  });
});
