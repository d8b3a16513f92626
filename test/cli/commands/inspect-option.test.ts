import { describe, expect, it } from 'vitest';
import { DEFAULT_INSPECT_PORT, inspectOption } from '../../../src/cli/commands/inspect-option.ts';
import type { CliValues } from '../../../src/cli/commands/options.ts';

const values = (extra: Partial<CliValues>): CliValues => ({ json: false, help: false, once: false, ...extra });

describe('--inspect', () => {
  it('is off unless asked for', () => {
    expect(inspectOption(values({}))).toBeUndefined();
  });

  it('binds loopback, on 7337 unless --inspect-port says otherwise', () => {
    expect(inspectOption(values({ inspect: true }))).toEqual({ port: DEFAULT_INSPECT_PORT, host: '127.0.0.1' });
    expect(inspectOption(values({ inspect: true, 'inspect-port': '0' }))).toEqual({ port: 0, host: '127.0.0.1' });
  });

  it.each([['70000'], ['-1'], ['http'], ['1.5']])('refuses --inspect-port %s', (port) => {
    expect(inspectOption(values({ inspect: true, 'inspect-port': port }))).toMatch(/^--inspect-port must be a port number/);
  });

  it('refuses --inspect-port without --inspect', () => {
    expect(inspectOption(values({ 'inspect-port': '8080' }))).toBe('--inspect-port needs --inspect');
  });
});
