import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCodec } from '../../src/protocol/codec.ts';
import { nestedDeeperThan } from '../../src/protocol/depth.ts';
import { MAX_JSON_DEPTH } from '../../src/protocol/envelope.ts';
import { messageExamples } from '../../src/protocol/examples.ts';

/** `{"a":{"a":…1…}}` with `levels` objects. */
const nestedText = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const nested = (levels: number): Record<string, unknown> => JSON.parse(nestedText(levels)) as Record<string, unknown>;

describe('nesting bound', () => {
  it('counts objects and arrays, the value itself as level 1', () => {
    expect(nestedDeeperThan(1, 0)).toBe(false);
    expect(nestedDeeperThan({ a: { b: [1] } }, 3)).toBe(false);
    expect(nestedDeeperThan({ a: { b: [1] } }, 2)).toBe(true);
    expect(nestedDeeperThan([[], [[{}]]], 3)).toBe(true);
  });

  it('walks 100,000 levels without overflowing the stack', () => {
    expect(nestedDeeperThan(nested(100_000), MAX_JSON_DEPTH)).toBe(true);
  });

  it('says what the plain definition says, for any JSON value and bound, by recursion or not', () => {
    /** Levels of objects and arrays in `value` (a value that is neither has none). */
    const levels = (value: unknown): number =>
      typeof value === 'object' && value !== null ? 1 + Math.max(0, ...Object.values(value).map(levels)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (value, max) => {
        expect(nestedDeeperThan(value, max)).toBe(levels(value) > max);
      }),
      { numRuns: 2_000 },
    );
    // Past 1,024 the walk is iterative (src/protocol/depth.ts): the same answer on either side of it.
    for (const bound of [1_023, 1_024, 1_025, 1_026]) {
      for (const depth of [bound - 1, bound, bound + 1])
        expect(nestedDeeperThan(nested(depth), bound), `${depth} > ${bound}`).toBe(depth > bound);
    }
  });

  it('decodes a frame exactly at the limit and refuses one a level deeper as schema_violation, naming it', () => {
    const codec = createCodec({ receiver: 'hub' });
    // The frame is level 1 and `data` level 2, so data may nest MAX_JSON_DEPTH - 1 objects.
    const frame = (levels: number) =>
      `{"v":1,"id":"deep-1","type":"execution_event","ts":0,"event_id":"e","request_id":"r","event_type":"progress","data":${nestedText(levels)}}`;
    expect(codec.decode(frame(MAX_JSON_DEPTH - 1)).ok).toBe(true);
    const refused = codec.decode(frame(MAX_JSON_DEPTH));
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'schema_violation', detail: { messageId: 'deep-1', type: 'execution_event' } },
    });
    // The regression: 10,000 levels parse, but a copy of them (the hub's execution snapshot) overflowed the stack.
    expect(codec.decode(frame(10_000))).toMatchObject({ ok: false, error: { code: 'schema_violation' } });
  });

  it('refuses to encode what the other side would refuse', () => {
    const codec = createCodec();
    const encoded = codec.encode({ ...messageExamples.execution_event, data: nested(MAX_JSON_DEPTH) });
    expect(encoded).toMatchObject({ ok: false, error: { code: 'schema_violation', message: expect.stringContaining('nested deeper') } });
  });
});
