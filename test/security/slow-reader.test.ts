import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MAX_UNREAD_BYTES, ReadGate } from '../../src/hub/read-gate.ts';
import { connectFrame, startHub } from '../hub/helpers.ts';
import { until } from '../support/loopback.ts';
import { settle } from '../support/execution-fixture.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** A socket stand-in: how much waits unread, and how often reading was paused and resumed. */
function fakeSocket() {
  const calls: string[] = [];
  const socket = { bufferedAmount: 0, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
  return { socket, calls, gate: new ReadGate(socket as unknown as WebSocket, 1000) };
}

describe('a device that does not read what the hub sends it', () => {
  it('is no longer read from past the limit, and read again once half of it has gone out', () => {
    const { socket, calls, gate } = fakeSocket();
    socket.bufferedAmount = 1000;
    gate.check();
    expect(calls).toEqual([]);
    socket.bufferedAmount = 1001;
    gate.check();
    gate.check();
    expect(calls).toEqual(['pause']);
    socket.bufferedAmount = 501;
    gate.written();
    expect(calls).toEqual(['pause']);
    socket.bufferedAmount = 500;
    gate.written();
    gate.written();
    expect(calls).toEqual(['pause', 'resume']);
  });

  // The regression: every heartbeat is answered, so a device that sent them without reading
  // grew the hub's send buffer (and heap) by ~350 bytes each, without end.
  it('makes the hub stop reading its flood of heartbeats, then answers every one once it reads', { timeout: 60_000 }, async () => {
    const { url } = await startHub();
    const pauses = vi.spyOn(WebSocket.prototype, 'pause');
    const client = new WebSocket(url, { perMessageDeflate: false });
    client.on('error', () => {});
    await new Promise((resolve) => client.once('open', resolve));
    let acks = 0;
    const acked = new Promise((resolve) => client.once('message', resolve));
    client.on('message', (data: Buffer) => {
      if ((JSON.parse(data.toString('utf8')) as { type: string }).type === 'heartbeat_ack') acks += 1;
    });
    client.send(JSON.stringify(connectFrame()));
    await acked;
    client.pause();

    const hubPaused = () => (pauses.mock.contexts as WebSocket[]).find((socket) => socket !== client);
    let sent = 0;
    // Loopback's kernel buffers take megabytes first: the hub pauses after ~100,000 here.
    while (!hubPaused() && sent < 1_000_000) {
      for (let i = 0; i < 20_000; i++) client.send(`{"v":1,"id":"h${sent}","type":"heartbeat","ts":0,"seq":${sent++}}`);
      await settle(3);
    }
    const hubSide = hubPaused();
    expect(hubSide, `the hub read ${sent} heartbeats without pausing`).toBeDefined();
    // What waits for the device is bounded: the limit, plus the answers to one chunk read before the pause.
    expect(hubSide!.bufferedAmount).toBeLessThan(MAX_UNREAD_BYTES + 1024 * 1024);
    await settle(20);
    expect(hubSide!.bufferedAmount).toBeLessThan(MAX_UNREAD_BYTES + 1024 * 1024);

    // Nothing is lost: once the device reads, the hub reads again and answers every heartbeat.
    client.resume();
    await until(() => acks === sent, undefined, 1_000_000);
    expect(acks).toBe(sent);
    client.terminate();
  });
});
