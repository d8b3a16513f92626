import { describe, expect, it } from 'vitest';
import { redactProperties, redactString } from '../../src/telemetry/redact.ts';

describe('telemetry redaction', () => {
  it('drops values of keys that name secrets', () => {
    expect(redactProperties({ accessToken: 'a', clientSecret: 'b', dbPassword: 'c' }, '/home/ada')).toEqual({
      accessToken: '[redacted]',
      clientSecret: '[redacted]',
      dbPassword: '[redacted]',
    });
    expect(redactProperties({ token: 'x', api_key: 'y', refresh_token: 'z', user_password: 'p', count: 3 }, '/home/ada')).toEqual({
      token: '[redacted]',
      api_key: '[redacted]',
      refresh_token: '[redacted]',
      user_password: '[redacted]',
      count: 3,
    });
  });

  it('removes tokens, e-mail addresses and the home directory from strings', () => {
    const home = '/home/ada';
    expect(redactString('auth failed: Bearer abc.def-123', home)).toBe('auth failed: [redacted]');
    expect(redactString('jwt eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl here', home)).toBe('jwt [redacted] here');
    expect(redactString('key ctk_3f9a2b_QmFzZTY0U2VjcmV0', home)).toBe('key [redacted]');
    expect(redactString('secret 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', home)).toBe('secret [redacted]');
    expect(redactString('mail ada.lovelace+cloud@example.co.uk now', home)).toBe('mail [email] now');
    expect(redactString('open /home/ada/projects/app/src/main.ts', home)).toBe('open ~/projects/app/src/main.ts');
    expect(redactString('word '.repeat(1_000), home)).toHaveLength(1024);
  });

  it('keeps flat values only', () => {
    expect(redactProperties({ a: { b: 1 }, c: [1], d: undefined, e: null, f: Number.NaN, g: false }, '/home/ada')).toEqual({
      e: null,
      f: null,
      g: false,
    });
  });
});
