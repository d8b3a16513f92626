import type { z } from 'zod';
import { type ZodDef, defOf, Unsupported } from './zod-def.ts';

/** What an {@link OrderedCopy} answers when it cannot stand in for zod's parse: the caller asks zod. */
export const NOT_SURE: unique symbol = Symbol('cloudtether.notSure');

/**
 * A copy of a value the way zod's parse of a schema lays it out (each object's keys in the
 * schema's order, unknown keys left out, defaults filled in, records copied key by key), made
 * without checking anything; or {@link NOT_SURE} where the value is not data zod would copy that
 * way (a record that is not a plain object, or has symbol or non-enumerable keys; an object or
 * array where one belongs that is not one). Paired with the as-is check (src/protocol/as-is-check.ts):
 * when the check takes the copy, zod would have accepted the value and given back this very
 * copy, so a host's message is validated without zod's parse and serialises to the same bytes
 * (`Codec.validate`). Each value is read once, as zod reads it.
 */
export type OrderedCopy = (value: unknown) => unknown;

const isEnumerable = Object.prototype.propertyIsEnumerable;

/**
 * Compiles the copy for `schema`; undefined when a part of it has no rule here (a plain union, a
 * transform, a record of anything but unknown values, …).
 *
 * @example
 * const copy = compileOrderedCopy(ExecutionRequestMessage);
 * copy?.({ job_type: 'tool', tool_name: 'echo', type: 'execution_request', request_id: 'r1', note: 1 });
 * // { type: 'execution_request', request_id: 'r1', inputs: {}, execution_context: {}, job_type: 'tool', tool_name: 'echo' }
 */
export function compileOrderedCopy(schema: z.ZodType): OrderedCopy | undefined {
  try {
    return compile(schema);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}

function compile(schema: z.ZodType): OrderedCopy {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'literal':
    case 'enum':
    case 'unknown':
      // Taken as it is by zod's parse; whether it is valid is the as-is check's to say.
      return (value) => value;
    case 'optional': {
      const inner = compile(def.innerType!);
      return (value) => (value === undefined ? undefined : inner(value));
    }
    case 'default': {
      const inner = compile(def.innerType!);
      // Read each time: zod 4 hands out a fresh copy of an object default.
      return (value) => inner(value === undefined ? def.defaultValue : value);
    }
    case 'array': {
      const element = compile(def.element!);
      return (value) => {
        if (!Array.isArray(value)) return NOT_SURE;
        const copy: unknown[] = [];
        for (let i = 0; i < value.length; i++) {
          const item = element(value[i]);
          if (item === NOT_SURE) return NOT_SURE;
          copy.push(item);
        }
        return copy;
      };
    }
    case 'record':
      return recordCopy(def);
    case 'object':
      return objectCopy(def);
    case 'union':
      return discriminatedCopy(def);
    default:
      throw new Unsupported(def.type);
  }
}

function isObjectLike(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `z.record(z.string(), z.unknown())`: a plain object's own keys, in their order, values as they are. */
function recordCopy(def: ZodDef): OrderedCopy {
  const key = defOf(def.keyType!);
  if (key.type !== 'string' || defOf(def.valueType!).type !== 'unknown') throw new Unsupported('record');
  return (value) => {
    if (!isObjectLike(value)) return NOT_SURE;
    const proto = Object.getPrototypeOf(value) as unknown;
    // zod takes more than this (any object whose constructor looks plain) and copies what its
    // own keys hold, enumerable or not; only what both read alike is copied here.
    if (proto !== Object.prototype && proto !== null) return NOT_SURE;
    const copy: Record<string, unknown> = {};
    for (const name of Reflect.ownKeys(value)) {
      if (typeof name !== 'string' || name === '__proto__' || !isEnumerable.call(value, name)) return NOT_SURE;
      copy[name] = value[name];
    }
    return copy;
  };
}

/** An object: the schema's keys in the schema's order, those the value leaves undefined left out; the others dropped. */
function objectCopy(def: ZodDef): OrderedCopy {
  if (def.catchall !== undefined) throw new Unsupported('catchall');
  const keys = Object.keys(def.shape!);
  const fields = keys.map((key) => compile(def.shape![key]!));
  return (value) => {
    if (!isObjectLike(value)) return NOT_SURE;
    const copy: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const field = fields[i]!(value[keys[i]!]);
      if (field === NOT_SURE) return NOT_SURE;
      if (field !== undefined) copy[keys[i]!] = field;
    }
    return copy;
  };
}

/** A discriminated union: the option its discriminator names. */
function discriminatedCopy(def: ZodDef): OrderedCopy {
  const discriminator = def.discriminator;
  if (discriminator === undefined) throw new Unsupported('union without a discriminator');
  const byValue = new Map<unknown, OrderedCopy>();
  for (const option of def.options!) {
    const literal = defOf(option).shape?.[discriminator];
    if (!literal || defOf(literal).type !== 'literal') throw new Unsupported('discriminator');
    const copy = compile(option);
    for (const value of defOf(literal).values ?? []) byValue.set(value, copy);
  }
  return (value) => {
    if (!isObjectLike(value)) return NOT_SURE;
    const option = byValue.get(value[discriminator]);
    return option === undefined ? NOT_SURE : option(value);
  };
}
