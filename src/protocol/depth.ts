/**
 * Whether `value` nests objects and arrays more than `max` levels deep (the value itself is
 * level 1). Iterative on purpose: a recursive walk would overflow the stack on exactly the
 * input it guards against.
 *
 * @example
 * nestedDeeperThan({ a: { b: [1] } }, 3); // false: object, object, array
 * nestedDeeperThan(JSON.parse('['.repeat(200) + ']'.repeat(200)), 128); // true
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  // Two parallel stacks and no array of values per node: this runs on every frame, both ways,
  // and an object per node was a share of each frame's allocation (bench/round-trip).
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
