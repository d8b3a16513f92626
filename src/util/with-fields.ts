/**
 * `{ ...base, ...fields }`, made so that objects of one shape share one hidden class.
 *
 * In V8 11 (Node 20), an object literal that *starts* with a spread and then adds properties
 * (`{ ...message, seq }`) gets a brand-new map on every call once the code is optimised. Every
 * frame built that way had a shape of its own: each schema check and `JSON.stringify` on it ran
 * megamorphic (2.4 → 5.7 µs per frame), and each object kept for later (an execution's
 * outcome, a ledger entry) kept its own map alive (bench/round-trip). `Object.assign` onto a
 * fresh literal does not do that. A literal that starts with a property (`{ type, ...rest }`)
 * is fine as it is.
 *
 * @example
 * const numbered = withFields(message, { seq: 7 }); // { ...message, seq: 7 }
 */
export function withFields<B extends object, F extends object>(base: B, fields: F): WithFields<B, F> {
  // `Object.assign` sets an own `__proto__` key (JSON.parse makes those) through the prototype
  // setter, where a spread defines it: keep the spread's meaning for such input.
  if (Object.hasOwn(base, '__proto__') || Object.hasOwn(fields, '__proto__')) return { ...base, ...fields } as unknown as WithFields<B, F>;
  return Object.assign({}, base, fields) as unknown as WithFields<B, F>;
}

/** The type of `{ ...base, ...fields }`, member by member when `B` is a union of messages. */
export type WithFields<B, F> = B extends unknown ? Omit<B, keyof F> & F : never;
