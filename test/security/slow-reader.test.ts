import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { MAX_UNREAD_BYTES, ReadGate } from '../../src/hub/session/read-gate.ts';
import { connectFrame, ManualClock, nextEvent, startHub, TOKEN } from '../hub/helpers.ts';
import { until } from '../support/loopback.ts';
import { settle } from '../support/execution-fixture.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** A socket stand-in: how much waits unread, and how often reading was paused and resumed. */
function fakeSocket() {
  const calls: string[] = [];
  const socket = { bufferedAmount: 0, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
  const clock = { now: 0 };
  return { socket, calls, clock, gate: new ReadGate(socket as unknown as WebSocket, 1000, () => clock.now) };
}

const LIVENESS_MS = 35_000; // the hub's default heartbeat interval + timeout

/** A device that completed the handshake and then stopped reading; and the flood that makes the hub stop reading it. */
async function nonReadingDevice(url: string) {
  const pauses = vi.spyOn(WebSocket.prototype, 'pause');
  const client = new WebSocket(url, { perMessageDeflate: false });
  client.on('error', () => {});
  await new Promise((resolve) => client.once('open', resolve));
  const acks = { count: 0 };
  const acked = new Promise((resolve) => client.once('message', resolve));
  client.on('message', (data: Buffer) => {
    if ((JSON.parse(data.toString('utf8')) as { type: string }).type === 'heartbeat_ack') acks.count += 1;
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
  return { client, hubSide: hubSide!, sent, acks };
}

describe('a device that does not read what the hub sends it', () => {
  it('is no longer read from past the limit, and read again once half of it has gone out', () => {
    const { socket, calls, clock, gate } = fakeSocket();
    socket.bufferedAmount = 1000;
    gate.check();
    expect([calls, gate.paused]).toEqual([[], false]);
    socket.bufferedAmount = 1001;
    gate.check();
    gate.check();
    expect([calls, gate.paused]).toEqual([['pause'], true]);
    clock.now = 7;
    socket.bufferedAmount = 501;
    gate.written();
    expect([calls, gate.lastWritten]).toEqual([['pause'], 7]);
    socket.bufferedAmount = 500;
    gate.written();
    gate.written();
    expect([calls, gate.paused]).toEqual([['pause', 'resume'], false]);
  });

  // The regression: every heartbeat is answered, so a device that sent them without reading
  // grew the hub's send buffer (and heap) by ~350 bytes each, without end.
  it('makes the hub stop reading its flood of heartbeats, then answers every one once it reads', async () => {
    const { url } = await startHub();
    const { client, hubSide, sent, acks } = await nonReadingDevice(url);
    // What waits for the device is bounded: the limit, plus the answers to one chunk read before the pause.
    expect(hubSide.bufferedAmount).toBeLessThan(MAX_UNREAD_BYTES + 1024 * 1024);
    await settle(20);
    expect(hubSide.bufferedAmount).toBeLessThan(MAX_UNREAD_BYTES + 1024 * 1024);

    // Nothing is lost: once the device reads, the hub reads again and answers every heartbeat.
    client.resume();
    await until(() => acks.count === sent, undefined, 300_000);
    expect(acks.count).toBe(sent);
    client.terminate();
  });

  it('ends the session by the heartbeat timeout when the device never reads', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock });
    const { client } = await nonReadingDevice(url);
    const closed = nextEvent(hub, 'session_close');
    clock.advance(LIVENESS_MS);
    // The close frame waits behind what the device does not read: the hub gives up after its close timeout.
    expect((await closed).slice(1)).toEqual([4006, 'heartbeat_timeout']);
    client.terminate();
  });

  it('keeps a device that reads, however slowly, while the hub is not reading it', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock });
    const { client, hubSide, acks } = await nonReadingDevice(url);
    clock.advance(LIVENESS_MS - 1);
    // The device reads a little: what the hub sent makes progress, not enough for the hub to read again.
    const backlog = hubSide.bufferedAmount;
    client.resume();
    await until(() => acks.count >= 1_000 && hubSide.bufferedAmount < backlog);
    client.pause();
    await settle(5);
    expect(hubSide.isPaused).toBe(true);
    clock.advance(1);
    // A timed-out session would be closing now (its close frame stuck behind the backlog).
    expect(hubSide.readyState).toBe(WebSocket.OPEN);
    expect(hub.devices()).toHaveLength(1);
    client.terminate();
  });
});
