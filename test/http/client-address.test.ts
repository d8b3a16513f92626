import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress, isLoopback, isLoopbackHost } from '../../src/http/client-address.ts';

const from = (remoteAddress: string | undefined) => ({ socket: { remoteAddress } }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('gives an IPv4 client as IPv4 whether or not a dual-stack socket mapped it', () => {
    expect(clientAddress(from('192.0.2.7'))).toBe('192.0.2.7');
    expect(clientAddress(from('::ffff:192.0.2.7'))).toBe('192.0.2.7');
    expect(clientAddress(from('2001:db8::7'))).toBe('2001:db8::7');
    expect(clientAddress(from(undefined))).toBe('');
  });
});

describe('isLoopback', () => {
  it('is 127.0.0.0/8 and ::1, mapped or not', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1'])
      expect(isLoopback(address), address).toBe(true);
    for (const address of ['192.0.2.7', '10.0.0.1', '::ffff:192.0.2.7', '2001:db8::1', '', '128.0.0.1', '::'])
      expect(isLoopback(address), address).toBe(false);
  });
});

describe('isLoopbackHost', () => {
  it('takes localhost and loopback addresses (bracketed or not); any other host reaches beyond the machine', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '::1', '[::1]']) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.0.2.7', 'hub.example.com']) expect(isLoopbackHost(host), host).toBe(false);
  });
});
