/**
 * Deepest bound walked by recursion: below it the stack holds at most this many frames of
 * {@link deeperWithin}, whatever the value; above it the walk is iterative, as a recursive walk
 * would overflow the stack on exactly the input it guards against.
 */
const RECURSIVE_BOUND = 1_024;

/**
 * Whether `value` nests objects and arrays more than `max` levels deep (the value itself is
 * level 1).
 *
 * @example
 * nestedDeeperThan({ a: { b: [1] } }, 3); // false: object, object, array
 * nestedDeeperThan(JSON.parse('['.repeat(200) + ']'.repeat(200)), 128); // true
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // The protocol's bound (128) by recursion: no stacks to allocate, and a frame's free-form data
  // is mostly one or two levels (bench/round-trip). It stops one level past `max`, so it never
  // recurses deeper than that.
  return max <= RECURSIVE_BOUND ? deeperWithin(value, max) : deeperIteratively(value, max);
}

/** {@link nestedDeeperThan} for an object or array, recursing at most `max` + 1 levels. */
function deeperWithin(node: object, max: number): boolean {
  if (max < 1) return true;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      if (typeof child === 'object' && child !== null && deeperWithin(child, max - 1)) return true;
    }
    return false;
  }
  // Own enumerable string keys, as `Object.values` reads them.
  for (const key in node) {
    if (!Object.hasOwn(node, key)) continue;
    const child: unknown = (node as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null && deeperWithin(child, max - 1)) return true;
  }
  return false;
}

/** {@link nestedDeeperThan} for any bound, without recursion. */
function deeperIteratively(value: object, max: number): boolean {
  // Two parallel stacks and no array of values per node: an object per node was a share of each
  // frame's allocation (bench/round-trip).
  const nodes: object[] = [value];
  const depths: number[] = [1];
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const depth = depths.pop()!;
    if (depth > max) return true;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    // Own enumerable string keys, as `Object.values` reads them.
    for (const key in node) {
      if (!Object.hasOwn(node, key)) continue;
      const child: unknown = (node as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
