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

/** The rule of a string: length in UTF-16 units within [`floor`, `max`], and every pattern. */
type StringRule = { floor: number; max: number; patterns: RegExp[] };

/**
 * zod measures a string's length in code points, where JavaScript counts UTF-16 units: a string
 * is taken here only where both agree whatever it holds (at least twice the floor in units, at
 * most the ceiling); in between, zod decides.
 */
function stringRule(def: ZodDef): StringRule {
  let min = 0;
  let max = Infinity;
  const patterns: RegExp[] = [];
  for (const check of checkDefs(def)) {
    if (check.check === 'min_length') min = Math.max(min, check.minimum!);
    else if (check.check === 'max_length') max = Math.min(max, check.maximum!);
    else if (check.check === 'string_format' && check.format === 'regex' && check.pattern) patterns.push(check.pattern);
    else throw new Unsupported(`string ${check.check}`);
  }
  return { floor: 2 * min, max, patterns };
}

function stringCheck(def: ZodDef): PartCheck {
  const { floor, max, patterns } = stringRule(def);
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

/** The rule of a number: finite, a safe integer when `integer`, and above/below the bounds (`gt`/`ge`/`lt`/`le`, open where infinite). */
type NumberRule = { integer: boolean; gt: number; ge: number; lt: number; le: number };

function numberRule(def: ZodDef): NumberRule {
  const rule: NumberRule = { integer: false, gt: -Infinity, ge: -Infinity, lt: Infinity, le: Infinity };
  for (const check of checkDefs(def)) {
    const bound = check.value!;
    if (check.check === 'number_format' && check.format === 'safeint') rule.integer = true;
    else if (check.check === 'greater_than' && check.inclusive === true) rule.ge = Math.max(rule.ge, bound);
    else if (check.check === 'greater_than') rule.gt = Math.max(rule.gt, bound);
    else if (check.check === 'less_than' && check.inclusive === true) rule.le = Math.min(rule.le, bound);
    else if (check.check === 'less_than') rule.lt = Math.min(rule.lt, bound);
    else throw new Unsupported(`number ${check.check} ${check.format ?? ''}`);
  }
  return rule;
}

function numberCheck(def: ZodDef): PartCheck {
  const rule = numberRule(def);
  return (value) => typeof value === 'number' && numberFits(rule, value);
}

function numberFits(rule: NumberRule, value: number): boolean {
  return (
    Number.isFinite(value) &&
    (!rule.integer || Number.isSafeInteger(value)) &&
    value > rule.gt &&
    value >= rule.ge &&
    value < rule.lt &&
    value <= rule.le
  );
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

/** How an object's field is checked: the common leaves inline in the object's loop, anything else by its compiled check. */
const STRING = 0;
const NUMBER = 1;
const ONE_OF = 2;
const PART = 3;

/** One field of an object check; every field has every member, so the loop reads one shape. */
type Field = {
  key: string;
  kind: typeof STRING | typeof NUMBER | typeof ONE_OF | typeof PART;
  /** Absent is as is (`optional`); for other kinds the rule decides what absent means. */
  optional: boolean;
  string: StringRule;
  number: NumberRule;
  values: ReadonlySet<unknown>;
  part: PartCheck;
};

const NO_STRING: StringRule = { floor: 0, max: Infinity, patterns: [] };
const NO_NUMBER: NumberRule = { integer: false, gt: -Infinity, ge: -Infinity, lt: Infinity, le: Infinity };
const NO_VALUES: ReadonlySet<unknown> = new Set();
const NEVER: PartCheck = () => false;

/**
 * A field's check, with a string (no pattern), a number, a literal or an enum, optional or not,
 * laid out as data: the object's loop checks those itself, so a frame's leaves cost no call each
 * through a call site that sees every field's closure.
 */
function fieldOf(compiler: Compiler, key: string, schema: z.ZodType): Field {
  const field: Field = { key, kind: PART, optional: false, string: NO_STRING, number: NO_NUMBER, values: NO_VALUES, part: NEVER };
  let def = defOf(schema);
  if (def.type === 'optional' && !(def.checks && def.checks.length > 0)) {
    field.optional = true;
    def = defOf(def.innerType!);
  }
  if (def.type === 'string' && stringRule(def).patterns.length === 0) {
    field.kind = STRING;
    field.string = stringRule(def);
  } else if (def.type === 'number') {
    field.kind = NUMBER;
    field.number = numberRule(def);
  } else if ((def.type === 'literal' || def.type === 'enum') && !(def.checks && def.checks.length > 0)) {
    field.kind = ONE_OF;
    field.values = new Set(def.type === 'literal' ? def.values : Object.values(def.entries ?? {}));
  } else {
    field.optional = false;
    field.part = compiler.compile(schema);
  }
  return field;
}

function objectCheck(compiler: Compiler, def: ZodDef): PartCheck {
  noChecks(def);
  if (def.catchall !== undefined) throw new Unsupported('catchall');
  const fields = Object.keys(def.shape!).map((key) => fieldOf(compiler, key, def.shape![key]!));
  const maxDepth = compiler.maxDepth;
  return (value, level) => {
    if (!isObjectLike(value) || level > maxDepth) return false;
    let present = 0;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      const item = value[field.key];
      if (item !== undefined) present++;
      else if (field.optional) continue;
      switch (field.kind) {
        case STRING: {
          const rule = field.string;
          if (typeof item !== 'string' || item.length < rule.floor || item.length > rule.max) return false;
          break;
        }
        case NUMBER:
          if (typeof item !== 'number' || !numberFits(field.number, item)) return false;
          break;
        case ONE_OF:
          if (!field.values.has(item)) return false;
          break;
        default:
          if (!field.part(item, level + 1)) return false;
      }
    }
    // A key the schema does not know is stripped from zod's copy. A parsed value's keys are its
    // own and enumerable, each read above when the schema knows it: as many keys as fields
    // present means none unknown.
    let keys = 0;
    for (const _ in value) keys++;
    return keys === present;
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
