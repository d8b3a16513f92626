import type { IncomingMessage } from 'node:http';

/**
 * The address a request came from, as the socket sees it: an IPv4 address mapped into IPv6
 * (`::ffff:192.0.2.7`, what a dual-stack listener reports) is given as the IPv4 address, so
 * one client is one key whichever way it reached us. `''` when the socket has closed already.
 *
 * @example
 * clientAddress(req); // '192.0.2.7'
 */
export function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * Whether an address is the machine's own: `127.0.0.0/8` or `::1` (also IPv4-mapped).
 *
 * @example
 * isLoopback('127.0.0.1'); // true
 * isLoopback('::ffff:127.0.0.1'); // true
 * isLoopback('192.0.2.7'); // false
 */
export function isLoopback(address: string): boolean {
  const plain = address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(plain) || plain === '::1' || plain === '0:0:0:0:0:0:0:1';
}

/**
 * Whether a listen host only binds the machine's own interfaces: a loopback address or
 * `localhost`. `0.0.0.0`, `::` and any other name or address are reachable from elsewhere.
 *
 * @example
 * isLoopbackHost('localhost'); // true
 * isLoopbackHost('0.0.0.0'); // false
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase() === 'localhost' || isLoopback(bare);
}
