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
  const stack: Array<{ node: object; depth: number }> = [];
  if (typeof value === 'object' && value !== null) stack.push({ node: value, depth: 1 });
  for (let top = stack.pop(); top; top = stack.pop()) {
    if (top.depth > max) return true;
    for (const child of Object.values(top.node)) {
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: top.depth + 1 });
    }
  }
  return false;
}
