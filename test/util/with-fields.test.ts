import { describe, expect, it } from 'vitest';
import { withFields } from '../../src/util/with-fields.ts';

describe('withFields', () => {
  it('is { ...base, ...fields }: a new object, the fields winning, the base untouched', () => {
    const base = { type: 'ack', seq: 1, id: 'a' };
    const out = withFields(base, { seq: 2, ts: 5 });
    expect(out).toEqual({ type: 'ack', seq: 2, id: 'a', ts: 5 });
    expect(out).not.toBe(base);
    expect(base).toEqual({ type: 'ack', seq: 1, id: 'a' });
    // Own enumerable properties only, as a spread takes them.
    const proto = Object.create({ inherited: true }) as { own?: number };
    proto.own = 1;
    expect(withFields(proto, { extra: 2 })).toEqual({ own: 1, extra: 2 });
  });

  it('keeps an own __proto__ key as data, as a spread does, never as the prototype', () => {
    const hostile = JSON.parse('{"type":"ack","__proto__":{"polluted":true}}') as Record<string, unknown>;
    const out = withFields(hostile, { seq: 1 }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out.polluted).toBeUndefined();
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out).toMatchObject({ type: 'ack', seq: 1 });
  });
});
