import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { type AsIsCheck, compileAsIsCheck } from '../../src/protocol/as-is-check.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import { nestedDeeperThan } from '../../src/protocol/depth.ts';
import { MAX_JSON_DEPTH } from '../../src/protocol/envelope.ts';
import { messageExamples } from '../../src/protocol/examples.ts';
import { type MessageType, messageSchemas } from '../../src/protocol/messages.ts';
import { hostileFrame } from '../fuzz/hostile-frames.ts';

/*
 * The codec takes a frame as `JSON.parse` gave it when its compiled check says zod would give it
 * back unchanged (src/protocol/as-is-check.ts). What must hold: whenever the check says so, zod
 * accepts the frame and its output is deeply, strictly equal to it (same keys, no key added or
 * dropped, same values). A "no" costs only speed (zod decides), so the check must also say yes
 * to the frames the runtime sends, or it buys nothing.
 */

const RUNS = 2_000;
const types = Object.keys(messageSchemas) as MessageType[];
const schemaOf = (type: string) => (messageSchemas as Record<string, z.ZodType>)[type]!;
const checks = new Map<string, AsIsCheck | undefined>(types.map((type) => [type, compileAsIsCheck(schemaOf(type))]));

/** The property itself, for one parsed frame of a claimed type. */
function agrees(type: string, value: unknown): boolean {
  const check = checks.get(type);
  if (!check?.(value)) return false;
  const parsed = schemaOf(type).safeParse(value);
  expect(parsed.success, `${type}: the check took what zod refuses: ${JSON.stringify(parsed.error?.issues[0])}`).toBe(true);
  expect(isDeepStrictEqual(parsed.data, value), `${type}: zod's output differs from the frame taken as it is`).toBe(true);
  return true;
}

/** Every example message (docs/protocol.md's), stamped, as JSON gives it back. */
const examples = types.map((type) => ({
  type,
  value: JSON.parse(JSON.stringify({ v: 1, id: 'm-1', ts: 1_767_225_600_000, ...messageExamples[type] })) as Record<string, unknown>,
}));

/** Values a mutation puts somewhere in a frame: the edges of the protocol's checks. */
const edgeValue = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    true,
    false,
    0,
    -0,
    -1,
    1,
    0.5,
    1e21,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 1,
    -Number.MAX_SAFE_INTEGER - 1,
    86_400_000,
    86_400_001,
    '',
    'a',
    '😀',
    '\ud800',
    'x'.repeat(64),
    'x'.repeat(65),
    'x'.repeat(128),
    'x'.repeat(129),
    '😀'.repeat(128),
    '😀'.repeat(129),
    'x'.repeat(256),
    'x'.repeat(257),
    '😀'.repeat(200),
    'task:1',
    'extension',
    'tool',
    'chain',
    'playbook',
    'accepted',
    'completed',
    'storage_unavailable',
    [],
    {},
    { __proto__: null, a: 1 },
  ),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 300, unit: 'binary' }),
  fc.integer(),
  fc.double(),
);

type Mutation = { path: number[]; value: unknown; key?: string | undefined };

/** A path into `value` chosen by the numbers in `path`, and there: replace, delete (undefined), or add a key. */
function mutate(frame: unknown, { path, value, key }: Mutation): unknown {
  const copy = structuredClone(frame) as Record<string, unknown>;
  let node: unknown = copy;
  for (const step of path) {
    const children = typeof node === 'object' && node !== null ? Object.keys(node) : [];
    if (children.length === 0) break;
    const at = children[step % children.length]!;
    const child = (node as Record<string, unknown>)[at];
    if (typeof child !== 'object' || child === null || step % 3 === 0) {
      if (key !== undefined && !Array.isArray(node)) {
        // An own `__proto__` as JSON.parse makes it, not the prototype setter.
        Object.defineProperty(node, key, { value, enumerable: true, writable: true, configurable: true });
      } else if (value === undefined && !Array.isArray(node)) delete (node as Record<string, unknown>)[at];
      else (node as Record<string, unknown>)[at] = value;
      return JSON.parse(JSON.stringify(copy)) as unknown;
    }
    node = child;
  }
  return JSON.parse(JSON.stringify(copy)) as unknown;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
  value: edgeValue,
  key: fc.option(fc.constantFrom('__proto__', 'extra', 'data', 'inputs', 'seq', 'v'), { nil: undefined }),
});

describe('the as-is check (src/protocol/as-is-check.ts) against zod', () => {
  it('compiles for the frames of an execution, and takes every example frame as it is', () => {
    for (const type of ['execution_request', 'execution_event', 'usage_report', 'ack', 'heartbeat', 'capacity'] as const) {
      expect(checks.get(type), type).toBeDefined();
    }
    for (const { type, value } of examples) {
      if (!checks.get(type)) continue;
      // An example that leaves out a defaulted field is filled in by zod: not as is, and right so.
      const parsed = schemaOf(type).safeParse(value);
      expect(parsed.success).toBe(true);
      expect(checks.get(type)!(value), type).toBe(isDeepStrictEqual(parsed.data, value));
    }
  });

  it('says yes only to frames zod accepts and gives back unchanged: example frames, mutated', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.constantFrom(...examples), fc.array(mutation, { minLength: 1, maxLength: 3 }), ({ type, value }, mutations) => {
        const frame = mutations.reduce<unknown>((current, m) => mutate(current, m), value);
        if (agrees(type, frame)) taken += 1;
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: many mutated frames are still valid as they are.
    expect(taken).toBeGreaterThan(RUNS / 100);
  });

  it('says yes only to frames zod accepts and gives back unchanged: the fuzz suites hostile frames', () => {
    for (const receiver of ['hub', 'device'] as const) {
      fc.assert(
        fc.property(hostileFrame(receiver, 64 * 1024), ({ data }) => {
          let value: unknown;
          try {
            value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
          } catch {
            return;
          }
          const type = (value as { type?: unknown } | null)?.type;
          if (typeof type === 'string' && checks.has(type)) agrees(type, value);
        }),
        { numRuns: RUNS },
      );
    }
  });

  it('leaves the codec decoding as zod alone does: the same message, or the same error', () => {
    const codec = createCodec({ receiver: 'hub' });
    fc.assert(
      fc.property(fc.constantFrom(...examples), mutation, ({ type, value }, m) => {
        const frame = JSON.stringify(mutate(value, m));
        const decoded = codec.decode(frame);
        const parsed = schemaOf(type).safeParse(JSON.parse(frame));
        if (decoded.ok) {
          expect(parsed.success).toBe(true);
          expect(decoded.value).toEqual(parsed.data);
        } else if (decoded.error.code === 'schema_violation' && parsed.success) {
          // Refused for the direction (a device-bound type at the hub) or depth, never by the check.
          expect(decoded.error.message).toMatch(/wrong direction|nested deeper/);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('with a depth bound, says yes exactly when the unbounded check does and the frame is no deeper (depth.ts)', () => {
    // Small bounds, so the frames' own levels and their free-form data both cross them.
    const bounded = new Map<string, AsIsCheck[]>(
      types.map((type) => [type, [1, 2, 3, 4, 5, 6].map((d) => compileAsIsCheck(schemaOf(type), d)!)]),
    );
    /** Free-form data nested `n` levels, put where a mutation lands. */
    const nested = fc.nat({ max: 8 }).map((n) => JSON.parse('{"a":'.repeat(n) + '[1]' + '}'.repeat(n)) as unknown);
    let taken = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...examples),
        fc.array(mutation, { maxLength: 2 }),
        nested,
        fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
        ({ type, value }, mutations, deep, path) => {
          const unbounded = checks.get(type);
          if (!unbounded) return;
          const frame = mutate(
            mutations.reduce<unknown>((current, m) => mutate(current, m), value),
            { path, value: deep },
          );
          for (const [i, check] of bounded.get(type)!.entries()) {
            const expected = unbounded(frame) && !nestedDeeperThan(frame, i + 1);
            expect(check(frame), `${type}, bound ${i + 1}: ${JSON.stringify(frame)}`).toBe(expected);
            if (expected) taken += 1;
          }
        },
      ),
      { numRuns: RUNS },
    );
    expect(taken).toBeGreaterThan(0);
  });

  it('lets the codec refuse a frame nested past the protocol limit, in free-form data the check takes', () => {
    const codec = createCodec({ receiver: 'hub' });
    const event = examples.find((example) => example.type === 'execution_event')!.value;
    const at = (depth: number) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) as unknown;
    // The frame is level 1 and `data` level 2: data nested 127 levels more is at the limit.
    for (const [depth, ok] of [
      [MAX_JSON_DEPTH - 1, true],
      [MAX_JSON_DEPTH, false],
    ] as const) {
      const decoded = codec.decode(JSON.stringify({ ...event, data: at(depth) }));
      expect(decoded.ok, `data nested ${depth} levels`).toBe(ok);
      if (!decoded.ok) expect(decoded.error.message).toMatch(/nested deeper/);
    }
  });

  it('refuses to compile what it has no exact rule for, so zod checks it', () => {
    // Two settings messages use a plain union or a check it does not know: zod alone decodes them.
    const unsupported = types.filter((type) => checks.get(type) === undefined);
    expect(unsupported.length).toBeLessThan(types.length / 4);
  });
});
