import type { z } from 'zod';

/**
 * What the schema compilers read of a zod schema's definition (`schema._zod.def`): the parts
 * of the kinds they have rules for. The compilers that read it (src/protocol/as-is-check.ts,
 * src/protocol/ordered-copy.ts) refuse any kind they do not know, so a field missing here means
 * a schema they leave to zod, never a wrong answer.
 */
export type ZodDef = {
  type: string;
  checks?: Array<{ _zod: { def: ZodCheckDef } }>;
  shape?: Record<string, z.ZodType>;
  catchall?: unknown;
  innerType?: z.ZodType;
  element?: z.ZodType;
  keyType?: z.ZodType;
  valueType?: z.ZodType;
  defaultValue?: unknown;
  values?: readonly unknown[];
  entries?: Record<string, unknown>;
  options?: z.ZodType[];
  discriminator?: string;
};

/** A check of a string or number schema (`min_length`, `greater_than`, a format, …). */
export type ZodCheckDef = {
  check: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  when?: unknown;
};

/** The definition of `schema`. */
export const defOf = (schema: z.ZodType): ZodDef => (schema as unknown as { _zod: { def: ZodDef } })._zod.def;

/** Thrown inside a schema compiler for a part it has no exact rule for; the compiler then gives up on the whole schema. */
export class Unsupported extends Error {}
