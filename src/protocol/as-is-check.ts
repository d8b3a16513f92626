import type { z } from 'zod';
import { nestedDeeperThan } from './depth.ts';
import { type ZodCheckDef, type ZodDef, defOf, Unsupported } from './zod-def.ts';

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
 *
 * With a depth bound, true also says the value nests no deeper than that (as
 * {@link nestedDeeperThan} counts): the schema's own levels are counted as the check walks them,
 * and only free-form data (`unknown`, records of unknown values) is walked for its depth. One
 * walk of a frame, not two.
 */
export type AsIsCheck = (value: unknown) => boolean;

/** A compiled part: `level` is how deep `value` sits in the checked value (the value itself is 1). */
type PartCheck = (value: unknown, level: number) => boolean;

/**
 * Compiles `schema`; undefined when some part of it has no exact rule here. `maxDepth`: the check
 * also says false for a value nested deeper than that (default: no bound).
 *
 * @example
 * const check = compileAsIsCheck(HeartbeatMessage, MAX_JSON_DEPTH);
 * check?.(JSON.parse('{"v":1,"id":"a","type":"heartbeat","ts":0,"seq":1}')); // true
 */
export function compileAsIsCheck(schema: z.ZodType, maxDepth = Infinity): AsIsCheck | undefined {
  try {
    const check = new Compiler(maxDepth).compile(schema);
    return (value) => check(value, 1);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

/** The compiler of one check: its depth bound is what the free-form parts are held to. */
class Compiler {
  constructor(readonly maxDepth: number) {}

  /** Whether free-form data at `level` (object or array) nests past the bound. */
  tooDeep(value: object, level: number): boolean {
    return this.maxDepth !== Infinity && nestedDeeperThan(value, this.maxDepth - level + 1);
  }

  compile(schema: z.ZodType): PartCheck {
    return compilePart(this, schema);
  }
}

function compilePart(compiler: Compiler, schema: z.ZodType): PartCheck {
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
      if (compiler.maxDepth === Infinity) return () => true;
      return (value, level) => typeof value !== 'object' || value === null || !compiler.tooDeep(value, level);
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
      const inner = compiler.compile(def.innerType!);
      // Present means `inner`; absent stays absent in zod's output too (only `default` adds a key).
      return (value, level) => value === undefined || inner(value, level);
    }
    case 'default': {
      noChecks(def);
      const inner = compiler.compile(def.innerType!);
      // Absent, zod fills the default in: not as is.
      return (value, level) => value !== undefined && inner(value, level);
    }
    case 'array':
      return arrayCheck(compiler, def);
    case 'record':
      return recordCheck(compiler, def);
    case 'object':
      return objectCheck(compiler, def);
    case 'union':
      return discriminatedCheck(compiler, def);
    default:
      throw new Unsupported(def.type);
  }
}

function noChecks(def: ZodDef): void {
  if (def.checks && def.checks.length > 0) throw new Unsupported(`${def.type} with checks`);
}

function checkDefs(def: ZodDef): ZodCheckDef[] {
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
function stringCheck(def: ZodDef): PartCheck {
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

function numberCheck(def: ZodDef): PartCheck {
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

function arrayCheck(compiler: Compiler, def: ZodDef): PartCheck {
  let min = 0;
  let max = Infinity;
  for (const check of checkDefs(def)) {
    if (check.check === 'min_length') min = Math.max(min, check.minimum!);
    else if (check.check === 'max_length') max = Math.min(max, check.maximum!);
    else throw new Unsupported(`array ${check.check}`);
  }
  const element = compiler.compile(def.element!);
  const maxDepth = compiler.maxDepth;
  return (value, level) => {
    if (!Array.isArray(value) || value.length < min || value.length > max || level > maxDepth) return false;
    for (let i = 0; i < value.length; i++) if (!element(value[i], level + 1)) return false;
    return true;
  };
}

function isObjectLike(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `z.record(z.string(), z.unknown())`, the protocol's free-form data: any JSON object zod copies key for key. */
function recordCheck(compiler: Compiler, def: ZodDef): PartCheck {
  noChecks(def);
  const key = defOf(def.keyType!);
  const value = defOf(def.valueType!);
  if (key.type !== 'string' || (key.checks?.length ?? 0) > 0 || value.type !== 'unknown') throw new Unsupported('record');
  // zod leaves an own `__proto__` key out of its copy.
  return (record, level) => isObjectLike(record) && !Object.hasOwn(record, '__proto__') && !compiler.tooDeep(record, level);
}

function objectCheck(compiler: Compiler, def: ZodDef): PartCheck {
  noChecks(def);
  if (def.catchall !== undefined) throw new Unsupported('catchall');
  const keys = Object.keys(def.shape!);
  const known = new Set(keys);
  const fields = keys.map((key) => compiler.compile(def.shape![key]!));
  const maxDepth = compiler.maxDepth;
  return (value, level) => {
    if (!isObjectLike(value) || level > maxDepth) return false;
    // A key the schema does not know is stripped from zod's copy.
    for (const key in value) if (!known.has(key)) return false;
    for (let i = 0; i < keys.length; i++) if (!fields[i]!(value[keys[i]!], level + 1)) return false;
    return true;
  };
}

/** A discriminated union: the option whose literal the discriminator names, as zod picks it. */
function discriminatedCheck(compiler: Compiler, def: ZodDef): PartCheck {
  noChecks(def);
  const discriminator = def.discriminator;
  if (discriminator === undefined) throw new Unsupported('union without a discriminator');
  const byValue = new Map<unknown, PartCheck>();
  for (const option of def.options!) {
    const shape = defOf(option).shape;
    const literal = shape?.[discriminator] && defOf(shape[discriminator]);
    if (literal?.type !== 'literal') throw new Unsupported('discriminator');
    const check = compiler.compile(option);
    for (const value of literal.values ?? []) {
      if (byValue.has(value)) throw new Unsupported('discriminator value twice');
      byValue.set(value, check);
    }
  }
  return (value, level) => {
    if (!isObjectLike(value)) return false;
    const option = byValue.get(value[discriminator]);
    return option !== undefined && option(value, level);
  };
}
