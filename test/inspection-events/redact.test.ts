import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { createRedactor, REDACTED } from '../../src/inspection-events/redact.ts';

const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDAsInN1YiI6ImRldi0xIn0.c2lnbmF0dXJlLXRoYXQtbXVzdC1nbw';
const [HEADER, PAYLOAD, SIGNATURE] = JWT.split('.');

describe('createRedactor', () => {
  const redact = createRedactor({ secretKeys: ['licence'], secretValues: ['enrollment-secret-1'] });

  it('redacts fields that name a secret, in any case style, and configured ones', () => {
    expect(
      redact({
        token: 'abc',
        refreshToken: 'r',
        'X-Api-Key': 'k',
        client_secret: 's',
        credential: 'c',
        licence: 'L-1',
        productLicence: 'L-2',
        note: 'kept',
      }),
    ).toEqual({
      token: REDACTED,
      refreshToken: REDACTED,
      'X-Api-Key': REDACTED,
      client_secret: REDACTED,
      credential: REDACTED,
      licence: REDACTED,
      productLicence: REDACTED,
      note: 'kept',
    });
  });

  it('keeps the claims of a JWT and drops its signature, wherever it is', () => {
    const out = redact({ token: JWT, headers: { authorization: `Bearer ${JWT}` }, text: `sent ${JWT} twice ${JWT}` });
    expect(out.token).toBe(`${HEADER}.${PAYLOAD}.redacted`);
    expect(out.headers.authorization).toBe(`Bearer ${HEADER}.${PAYLOAD}.redacted`);
    expect(JSON.stringify(out)).not.toContain(SIGNATURE);
  });

  it('cuts Bearer credentials, API keys and known secret values out of any string', () => {
    expect(redact({ line: 'Bearer opaque-token-123 then ctk_abcDEF_123 and enrollment-secret-1.' })).toEqual({
      line: 'Bearer [redacted] then ctk_[redacted] and [redacted].',
    });
  });

  it('cuts secret-named query parameters out of a link in any string, leaving ones already cut', () => {
    const redact = createRedactor();
    expect(redact({ link: 'https://hub.example/device?user_code=ABCD-EFGH&lang=en' })).toEqual({
      link: 'https://hub.example/device?user_code=%5Bredacted%5D&lang=en',
    });
    expect(redact('open http://h/x?a=1&token=s3cr3t now')).toBe('open http://h/x?a=1&token=%5Bredacted%5D now');
    expect(redact('ws://h/ws?token=%5Bredacted%5D')).toBe('ws://h/ws?token=%5Bredacted%5D');
  });

  it('redacts inside a string that holds a JSON frame', () => {
    const frame = JSON.stringify({ type: 'connect', id: 'm1', payload: { token: 'opaque', device_id: 'dev-1' } });
    expect(JSON.parse(redact({ frame }).frame)).toEqual({ type: 'connect', id: 'm1', payload: { token: REDACTED, device_id: 'dev-1' } });
  });

  it('survives cycles, depth, errors, buffers, maps and actor references', () => {
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    const actor = createActor(createMachine({ id: 'm' })).start();
    const out = redact({
      cyclic,
      error: new Error(`failed with ${JWT}`),
      bytes: Buffer.from('xyz'),
      map: new Map([['token', 't']]),
      actor,
      fn: () => 1,
    });
    expect(out).toMatchObject({
      cyclic: { name: 'a', self: '[cycle]' },
      error: { name: 'Error', message: `failed with ${HEADER}.${PAYLOAD}.redacted` },
      bytes: '[3 bytes]',
      map: { token: REDACTED },
      actor: { actor: actor.id },
    });
    expect('fn' in out).toBe(false);
    actor.stop();
  });

  it('is idempotent: redacting a redacted value changes nothing', () => {
    const value = fc.oneof(
      fc.string(),
      fc.constant(JWT),
      fc.constant(`Bearer ${JWT}`),
      fc.constant('Bearer x'),
      fc.constant('ctk_abc'),
      fc.constant('enrollment-secret-1'),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('token', 'note', 'authorization', 'licence', 'id'), value), (input) => {
        const once = redact(input);
        expect(redact(once)).toEqual(once);
      }),
      { numRuns: 300 },
    );
  });
});
