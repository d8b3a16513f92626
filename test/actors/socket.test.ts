import { describe, expect, it } from 'vitest';
import { createSocketActor } from '../../src/actors/socket.ts';
import { SocketPort } from '../../src/actors/socket-port.ts';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import { createLogger } from '../../src/log/logger.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { flush, underParent } from '../support/harness.ts';

const codec = createCodec();
const frame = (message: Parameters<typeof codec.encode>[0]) => {
  const encoded = codec.encode(message);
  if (!encoded.ok) throw encoded.error;
  return encoded.value.frame;
};

/** The socket actor under a parent that records its events, on a memory network, with a port. */
async function openSocket(receive: (message: Message) => void) {
  const net = createMemoryNetwork();
  net.onConnection = (peer) => peer.accept();
  const lines: string[] = [];
  const logger = createLogger({ level: 'error', destination: { write: (line: string) => lines.push(line) } });
  const port = new SocketPort();
  const socket = createSocketActor({ adapter: net.adapter, codec, port, logger });
  const h = underParent(socket, { url: 'ws://hub.test/v1/connect', generation: 1 });
  await flush();
  port.link(receive);
  return { h, peer: net.latest()!, lines };
}

describe('socket actor', () => {
  it('hands a linked session its data frames, sends control frames up, and reports the first data frame after a heartbeat', async () => {
    const received: Message[] = [];
    const { h, peer } = await openSocket((message) => received.push(message));
    const heartbeat = () => h.child.send({ type: 'socket.send', message: { type: 'heartbeat', seq: 1, client_time: 0 } });
    peer.send(frame({ type: 'ack', seq: 1 }));
    // No heartbeat waits for an answer: nothing to report.
    expect(h.sent('socket.activity')).toHaveLength(0);
    heartbeat();
    peer.send(frame({ type: 'ack', seq: 2 }));
    peer.send(frame({ type: 'ack', seq: 3 }));
    expect(h.sent('socket.activity')).toHaveLength(1);
    // A control frame answers a heartbeat through the machines, never as activity.
    heartbeat();
    peer.send(frame({ type: 'heartbeat_ack', seq: 1, server_time: 0 }));
    peer.send(frame({ type: 'ack', seq: 4 }));
    // A frame that does not decode answers nothing.
    heartbeat();
    peer.send('{not json');
    peer.send(frame({ type: 'ack', seq: 5 }));
    await flush();
    expect(received.map((m) => m.type === 'ack' && m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(h.sent('socket.activity')).toHaveLength(2);
    expect(h.sent('socket.frame').map((e) => (e as unknown as { message: Message }).message.type)).toEqual(['heartbeat_ack']);
    expect(peer.received.filter((f) => JSON.parse(f).type === 'heartbeat')).toHaveLength(3);
  });

  it('survives a runtime that throws on a data frame: logs it and closes the link 1011, so the hub resends from the last ack', async () => {
    const { h, peer, lines } = await openSocket(() => {
      throw new Error('bug in the runtime');
    });
    peer.send(
      frame({
        type: 'execution_request',
        request_id: 'r1',
        job_type: 'tool',
        tool_name: 'echo',
        inputs: {},
        execution_context: {},
        seq: 1,
      }),
    );
    await flush();
    expect(peer.state).toBe('closed');
    expect(h.sent('socket.closed')).toEqual([expect.objectContaining({ code: 1011, reason: 'runtime_error' })]);
    expect(lines.join('')).toContain('the runtime threw on a data frame');
    expect(h.errors()).toEqual([]);
  });
});
