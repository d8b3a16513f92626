import { types } from 'node:util';

/** Objects met by the walk in progress: a structured clone keeps an object met twice as one, JSON makes two. */
const met: object[] = [];

/** Deeper than this, a value is not taken: `JSON.stringify` is recursive, and a cycle has no bottom. */
const MAX_DEPTH = 64;

/**
 * Whether `JSON.parse(JSON.stringify(value))` gives back exactly what `structuredClone(value)`
 * would: plain objects and arrays (no holes, no other keys, no object met twice), strings,
 * booleans, null and finite numbers other than -0. What a frame's `JSON.parse` gives is that,
 * but for a `-0`. A store that keeps values as JSON text asks this first, and keeps any other
 * value as it is, so what it hands back is what a structured clone of the original would be.
 *
 * @example
 * isJsonExact({ result: { text: 'hi' }, duration_ms: 0 }); // true
 * isJsonExact({ at: new Date() });                         // false: a clone keeps the Date
 * isJsonExact({ n: -0 });                                  // false: JSON writes 0
 */
export function isJsonExact(value: unknown): boolean {
  met.length = 0;
  const exact = exactIn(value, 0);
  met.length = 0;
  return exact;
}

function exactIn(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  // A proxy: JSON reads through it, a structured clone refuses it. A `toJSON` (own, hidden or inherited) JSON calls and a clone ignores.
  if (depth >= MAX_DEPTH || met.includes(value) || types.isProxy(value) || 'toJSON' in value) return false;
  met.push(value);
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype || Object.keys(value).length !== value.length) return false;
    for (let i = 0; i < value.length; i++) if (!(i in value) || !exactIn(value[i], depth + 1)) return false;
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  // Symbol keys and non-enumerable ones are left out by both; a getter is read by both.
  for (const key in value) if (!exactIn((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}
