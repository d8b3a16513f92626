import type { z } from 'zod';

/**
 * A test compiled from a zod schema: true when zod would accept `value` **and give back a value
 * equal to it** (nothing stripped, no default filled in), so a parsed frame can be used as it is.
 * False means "not sure": the caller asks zod, which decides and words the error. The protocol's
 * frames are checked this way first (src/protocol/codec.ts): zod's parse builds a copy of every
 * frame and its bookkeeping, a third of a frame's decoding time and most of its allocation
 * (bench/round-trip).
 *
 * Only for values from `JSON.parse` (plain objects and arrays, finite numbers). Anything the
 * compiler does not know (a refine, a transform, a plain union, a kind of check it has no rule
 * for) makes the whole schema unsupported: {@link compileAsIsCheck} returns undefined and zod
 * checks every frame of that type. test/protocol/as-is-check.test.ts holds it to zod over
 * generated and mutated frames.
 */
export type AsIsCheck = (value: unknown) => boolean;

type Def = {
  type: string;
  checks?: Array<{ _zod: { def: CheckDef } }>;
  shape?: Record<string, z.ZodType>;
  catchall?: unknown;
  innerType?: z.ZodType;
  element?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  values?: readonly unknown[];
  entries?: Record<string, unknown>;
  options?: z.ZodType[];
  discriminator?: string;
};
type CheckDef = {
  check: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  when?: unknown;
};

/** Thrown inside the compiler for a schema part it has no exact rule for. */
class Unsupported extends Error {}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/**
 * Compiles `schema`; undefined when some part of it has no exact rule here.
 *
 * @example
 * const check = compileAsIsCheck(HeartbeatMessage);
 * check?.(JSON.parse('{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":1}')); // true
 */
export function compileAsIsCheck(schema: z.ZodType): AsIsCheck | undefined {
  try {
    return compile(schema);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

function compile(schema: z.ZodType): AsIsCheck {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return stringCheck(def);
    case 'number':
      return numberCheck(def);
    case 'boolean':
      noChecks(def);
      return (value) => typeof value === 'boolean';
    case 'unknown':
      noChecks(def);
      return () => true;
    case 'literal': {
      noChecks(def);
      const values = new Set(def.values);
      return (value) => values.has(value);
    }
    case 'enum': {
      noChecks(def);
      const values = new Set(Object.values(def.entries ?? {}));
      return (value) => values.has(value);
    }
    case 'optional': {
      noChecks(def);
      const inner = compile(def.innerType!);
      // Present means `inner`; absent stays absent in zod's output too (only `default` adds a key).
      return (value) => value === undefined || inner(value);
    }
    case 'default': {
      noChecks(def);
      const inner = compile(def.innerType!);
      // Absent, zod fills the default in: not as is.
      return (value) => value !== undefined && inner(value);
    }
    case 'array':
      return arrayCheck(def);
    case 'record':
      return recordCheck(def);
    case 'object':
      return objectCheck(def);
    case 'union':
      return discriminatedCheck(def);
    default:
      throw new Unsupported(def.type);
  }
}

function noChecks(def: Def): void {
  if (def.checks && def.checks.length > 0) throw new Unsupported(`${def.type} with checks`);
}

function checkDefs(def: Def): CheckDef[] {
  const checks = (def.checks ?? []).map((check) => check._zod.def);
  // A conditional check (`when`) is zod's own length guard on length checks only.
  for (const check of checks)
    if (check.when !== undefined && check.check !== 'min_length' && check.check !== 'max_length') throw new Unsupported('when');
  return checks;
}

/**
 * zod measures a string's length in code points, where JavaScript counts UTF-16 units: a string
 * is taken here only where both agree whatever it holds (at least twice the floor in units, at
 * most the ceiling); in between, zod decides.
 */
function stringCheck(def: Def): AsIsCheck {
  let min = 0;
  let max = Infinity;
  const patterns: RegExp[] = [];
  for (const check of checkDefs(def)) {
    if (check.check === 'min_length') min = Math.max(min, check.minimum!);
    else if (check.check === 'max_length') max = Math.min(max, check.maximum!);
    else if (check.check === 'string_format' && check.format === 'regex' && check.pattern) patterns.push(check.pattern);
    else throw new Unsupported(`string ${check.check}`);
  }
  const floor = 2 * min;
  return (value) => {
    if (typeof value !== 'string' || value.length < floor || value.length > max) return false;
    for (const pattern of patterns) {
      // As zod tests it: a global or sticky pattern starts over each time.
      pattern.lastIndex = 0;
      if (!pattern.test(value)) return false;
    }
    return true;
  };
}

function numberCheck(def: Def): AsIsCheck {
  let integer = false;
  const bounds: Array<(value: number) => boolean> = [];
  for (const check of checkDefs(def)) {
    const bound = check.value!;
    if (check.check === 'number_format' && check.format === 'safeint') integer = true;
    else if (check.check === 'greater_than') bounds.push(check.inclusive === true ? (value) => value >= bound : (value) => value > bound);
    else if (check.check === 'less_than') bounds.push(check.inclusive === true ? (value) => value <= bound : (value) => value < bound);
    else throw new Unsupported(`number ${check.check} ${check.format ?? ''}`);
  }
  return (value) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) return false;
    for (let i = 0; i < bounds.length; i++) if (!bounds[i]!(value)) return false;
    return true;
  };
}

function arrayCheck(def: Def): AsIsCheck {
  let min = 0;
  let max = Infinity;
  for (const check of checkDefs(def)) {
    if (check.check === 'min_length') min = Math.max(min, check.minimum!);
    else if (check.check === 'max_length') max = Math.min(max, check.maximum!);
    else throw new Unsupported(`array ${check.check}`);
  }
  const element = compile(def.element!);
  return (value) => {
    if (!Array.isArray(value) || value.length < min || value.length > max) return false;
    for (let i = 0; i < value.length; i++) if (!element(value[i])) return false;
    return true;
  };
}

function isObjectLike(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `z.record(z.string(), z.unknown())`, the protocol's free-form data: any JSON object zod copies key for key. */
function recordCheck(def: Def): AsIsCheck {
  noChecks(def);
  const key = defOf(def.keyType!);
  const value = defOf(def.valueType!);
  if (key.type !== 'string' || (key.checks?.length ?? 0) > 0 || value.type !== 'unknown') throw new Unsupported('record');
  // zod leaves an own `__proto__` key out of its copy.
  return (record) => isObjectLike(record) && !Object.hasOwn(record, '__proto__');
}

function objectCheck(def: Def): AsIsCheck {
  noChecks(def);
  if (def.catchall !== undefined) throw new Unsupported('catchall');
  const keys = Object.keys(def.shape!);
  const known = new Set(keys);
  const fields = keys.map((key) => compile(def.shape![key]!));
  return (value) => {
    if (!isObjectLike(value)) return false;
    // A key the schema does not know is stripped from zod's copy.
    for (const key in value) if (!known.has(key)) return false;
    for (let i = 0; i < keys.length; i++) if (!fields[i]!(value[keys[i]!])) return false;
    return true;
  };
}

/** A discriminated union: the option whose literal the discriminator names, as zod picks it. */
function discriminatedCheck(def: Def): AsIsCheck {
  noChecks(def);
  const discriminator = def.discriminator;
  if (discriminator === undefined) throw new Unsupported('union without a discriminator');
  const byValue = new Map<unknown, AsIsCheck>();
  for (const option of def.options!) {
    const shape = defOf(option).shape;
    const literal = shape?.[discriminator] && defOf(shape[discriminator]);
    if (literal?.type !== 'literal') throw new Unsupported('discriminator');
    const check = compile(option);
    for (const value of literal.values ?? []) {
      if (byValue.has(value)) throw new Unsupported('discriminator value twice');
      byValue.set(value, check);
    }
  }
  return (value) => {
    if (!isObjectLike(value)) return false;
    const option = byValue.get(value[discriminator]);
    return option !== undefined && option(value);
  };
}
