import { describe, expect, it } from 'vitest';
import type { SocketConnection } from '../../src/adapters/socket.ts';
import { SocketPort } from '../../src/actors/socket-port.ts';

function connection(): SocketConnection & { sent: string[] } {
  const sent: string[] = [];
  return { sent, send: (frame) => void sent.push(frame), close() {}, terminate() {}, bufferedAmount: 0 };
}

describe('SocketPort', () => {
  it('sends on the connection open when the session was linked', () => {
    const port = new SocketPort();
    const open = connection();
    port.attach(open);
    const send = port.link();
    expect(send('a')).toBe(true);
    expect(open.sent).toEqual(['a']);
  });

  it('sends nothing once the session is down, even while the socket is still open', () => {
    const port = new SocketPort();
    const open = connection();
    port.attach(open);
    const send = port.link();
    port.unlink();
    expect(send('late')).toBe(false);
    expect(open.sent).toEqual([]);
  });

  it('never reaches a later connection through an earlier session\'s link', () => {
    const port = new SocketPort();
    const first = connection();
    port.attach(first);
    const firstLink = port.link();
    port.detach(first);
    const second = connection();
    port.attach(second);
    expect(firstLink('stale')).toBe(false);
    const secondLink = port.link();
    expect(secondLink('fresh')).toBe(true);
    expect(first.sent).toEqual([]);
    expect(second.sent).toEqual(['fresh']);
  });

  it('has no link before a socket opened, and keeps a newer socket when an older one detaches', () => {
    const port = new SocketPort();
    expect(port.link()('x')).toBe(false);
    const older = connection();
    const newer = connection();
    port.attach(older);
    port.attach(newer);
    port.detach(older);
    expect(port.link()('y')).toBe(true);
    expect(newer.sent).toEqual(['y']);
  });
});
