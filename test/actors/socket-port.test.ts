import { describe, expect, it } from 'vitest';
import type { SocketConnection } from '../../src/adapters/socket.ts';
import { DATA_FRAME_TYPES, SocketPort } from '../../src/actors/socket-port.ts';
import type { Message } from '../../src/protocol/messages.ts';

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

  it("never reaches a later connection through an earlier session's link", () => {
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

describe('SocketPort inbound', () => {
  const ack = { v: 1, id: 'a1', ts: 0, type: 'ack', seq: 3 } as Message;
  const heartbeatAck = { v: 1, id: 'h1', ts: 0, type: 'heartbeat_ack', seq: 1, server_time: 0 } as Message;

  it('hands data frames of the linked connection to the session, and nothing else', () => {
    const port = new SocketPort();
    const open = connection();
    port.attach(open);
    const received: Message[] = [];
    port.link((message) => received.push(message));
    expect(port.deliver(open, ack)).toBe(true);
    // Control frames are the machines' business.
    expect(port.deliver(open, heartbeatAck)).toBe(false);
    expect(received).toEqual([ack]);
    expect([...DATA_FRAME_TYPES].sort()).toEqual(['ack', 'capability_reload', 'execution_cancel', 'execution_request', 'messaging_event']);
  });

  it('takes nothing before a link, after an unlink, or from another connection', () => {
    const port = new SocketPort();
    const first = connection();
    port.attach(first);
    expect(port.deliver(first, ack)).toBe(false);
    const received: Message[] = [];
    port.link((message) => received.push(message));
    port.unlink();
    expect(port.deliver(first, ack)).toBe(false);
    port.link((message) => received.push(message));
    // A newer socket opened (the old one's frames may still be in flight): neither reaches the old link.
    const second = connection();
    port.attach(second);
    expect(port.deliver(first, ack)).toBe(false);
    expect(port.deliver(second, ack)).toBe(false);
    expect(received).toEqual([]);
  });

  it('a link made without a receiver sends but takes nothing', () => {
    const port = new SocketPort();
    const open = connection();
    port.attach(open);
    expect(port.link()('x')).toBe(true);
    expect(port.deliver(open, ack)).toBe(false);
  });
});
