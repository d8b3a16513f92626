import { describe, expect, it } from 'vitest';
import { type Actor, SimulatedClock } from 'xstate';
import { SocketPort } from '../../src/actors/socket-port.ts';
import type { SocketConnection } from '../../src/adapters/socket.ts';
import { DataPlane } from '../../src/connector/data-plane.ts';
import { createMemoryStore } from '../../src/connector/remote-work.ts';
import { silentLogger } from '../../src/log/logger.ts';
import type { supervisorMachine } from '../../src/machines/supervisor.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import type { Message } from '../../src/protocol/messages.ts';
import type { ConnectorEvent } from '../../src/status/connector-event.ts';
import { flush } from '../support/harness.ts';

/** A data plane on a socket port, following a stand-in supervisor whose events the test emits. */
function plane() {
  const clock = new SimulatedClock();
  const codec = createCodec({ now: () => clock.now() });
  const port = new SocketPort();
  const frames: string[] = [];
  const connection: SocketConnection = {
    send: (frame) => void frames.push(frame),
    close: () => {},
    terminate: () => {},
    bufferedAmount: 0,
  };
  port.attach(connection);
  const notified: ConnectorEvent[] = [];
  const logger = silentLogger();
  const dataPlane = new DataPlane({
    port,
    codec,
    clock,
    logger,
    log: logger,
    store: createMemoryStore(() => clock.now()),
    deviceId: 'dev-1',
    notify: (e) => void notified.push(e),
  });
  const listeners = new Map<string, (event: never) => void>();
  const actor = { on: (type: string, listener: (event: never) => void) => void listeners.set(type, listener) } as unknown as Actor<
    typeof supervisorMachine
  >;
  dataPlane.attach(actor);
  const emit = (event: { type: string } & Record<string, unknown>) => listeners.get(event.type)!(event as never);
  const sent = () => frames.map((frame) => (JSON.parse(frame) as { type: string }).type);
  const ack: Message = { v: 1, id: 'a-1', ts: 0, type: 'ack', seq: 1 } as Message;
  return { dataPlane, port, connection, notified, emit, sent, ack };
}

const session = { sessionId: 's-1', heartbeatIntervalMs: 1_000, heartbeatTimeoutMs: 500, maxFrameBytes: 1 << 20, serverTime: 0 };

describe('DataPlane', () => {
  it('links the port on session.up: capacity goes out, and data frames come straight in and are told to the host', async () => {
    const p = plane();
    p.emit({ type: 'session.up', session });
    expect(p.sent()).toEqual(['capacity']);
    expect(p.port.deliver(p.connection, p.ack)).toBe(true);
    await flush();
    expect(p.notified).toEqual([{ type: 'message', message: p.ack }]);
  });

  it('unlinks on session.down: data frames go back through the machines', () => {
    const p = plane();
    p.emit({ type: 'session.up', session });
    p.emit({ type: 'session.down' });
    expect(p.port.deliver(p.connection, p.ack)).toBe(false);
  });

  it('handles a data frame that came through the machines the same way', async () => {
    const p = plane();
    p.emit({ type: 'message', message: p.ack });
    await flush();
    expect(p.notified).toEqual([{ type: 'message', message: p.ack }]);
  });

  it('tells the host of a resume that lost requests', () => {
    const p = plane();
    p.emit({ type: 'session.up', session: { ...session, resume: { status: 'expired', hubEpoch: 'e', missed: 2 } } });
    expect(p.notified).toContainEqual({ type: 'resume', status: 'expired', missed: 2 });
  });

  it('describes itself for connect, and reports what it executes', () => {
    const p = plane();
    const handshake = p.dataPlane.handshake('1.2.3', ['extension']);
    expect(handshake.runtime).toEqual({
      version: '1.2.3',
      job_types: ['tool', 'playbook', 'chain'],
      tools: [],
      playbooks: [],
      channels: ['extension'],
    });
    expect(handshake.capacity).toEqual(p.dataPlane.executions.capacity);
    expect(p.dataPlane.executions).toMatchObject({ active: [], outboxDepth: 0, waitingForStorage: 0 });
  });
});
