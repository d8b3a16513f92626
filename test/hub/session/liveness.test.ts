import { describe, expect, it } from 'vitest';
import { envelope, ManualClock, nextEvent, startHub, TestClient, TOKEN } from '../helpers.ts';

const interval = 1_000;
const timeout = 500;

describe('hub liveness', () => {
  it('answers heartbeat with heartbeat_ack echoing its seq', async () => {
    const clock = new ManualClock();
    const { url } = await startHub({ staticToken: TOKEN, clock });
    const { client } = await TestClient.connect(url);
    client.send(envelope('heartbeat', { seq: 41 }));
    client.send(envelope('heartbeat', { seq: 42 }));

    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq: 41, server_time: clock.now() });
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq: 42 });
  });

  it('closes 4006 after interval + timeout without a frame, counting any frame as liveness', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock, heartbeatIntervalMs: interval, heartbeatTimeoutMs: timeout });
    const { client } = await TestClient.connect(url);

    clock.advance(1_400);
    // Not a heartbeat, and even a bad frame: still a sign of life.
    client.send('bad');
    expect((await client.next()).code).toBe('not_json');

    // 1 ms short of interval + timeout since that frame (and past it since connect).
    clock.advance(interval + timeout - 1);
    // A closing session answers nothing: an ack proves the hub kept it open.
    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });

    const closed = nextEvent(hub, 'session_close');
    clock.advance(interval + timeout);
    expect(await client.closed).toEqual({ code: 4006, reason: 'heartbeat_timeout' });
    expect((await closed).slice(1)).toEqual([4006, 'heartbeat_timeout']);
    expect(hub.devices()).toEqual([]);
  });

  it('silence: sends no heartbeat_ack and does not time the device out, until lifted', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock, heartbeatIntervalMs: interval, heartbeatTimeoutMs: timeout });
    const { client } = await TestClient.connect(url, { device_id: 'quiet' });
    const { client: other } = await TestClient.connect(url, { device_id: 'chatty' });

    hub.faults.silence('quiet', true);
    client.heartbeat();
    // The hub handles frames of a socket in order: once this message is seen, so was the heartbeat.
    const seen = nextEvent(hub, 'message');
    client.send(envelope('execution_event', { event_id: 'e1', request_id: 'r1', event_type: 'started' }));
    await seen;
    const otherSeq = other.heartbeat();
    expect(await other.next()).toMatchObject({ type: 'heartbeat_ack', seq: otherSeq });

    // Far past interval + timeout with no frame from the device: the silence is the hub's doing.
    const otherClosed = nextEvent(hub, 'session_close');
    clock.advance(10_000);
    // The device that the hub is not silent towards does time out.
    const [closedInfo, code] = await otherClosed;
    expect([closedInfo.device_id, code]).toEqual(['chatty', 4006]);

    hub.faults.silence('quiet', false);
    const seq = client.heartbeat();
    // The first frame since the silence, so the earlier heartbeat went unanswered; and an
    // answer at all means the session outlived the advance.
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    expect(hub.devices().map((d) => d.device_id)).toEqual(['quiet']);
  });

  it("silence('*') mutes every device, including connect_ack to new ones", async () => {
    const { hub, url } = await startHub();
    const { client } = await TestClient.connect(url);
    hub.faults.silence('*', true);

    const late = await TestClient.open(url);
    const opened = nextEvent(hub, 'session_open');
    late.send(envelope('connect', { device_id: 'late', tenant_id: 'tenant-1', token: TOKEN }));
    await opened;
    client.heartbeat();
    const seen = nextEvent(hub, 'message');
    client.send(envelope('execution_event', { event_id: 'e1', request_id: 'r1', event_type: 'started' }));
    await seen;

    hub.faults.silence('*', false);
    const seq = late.heartbeat();
    // The first frame `late` ever sees is this ack: its connect_ack was swallowed.
    expect(await late.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    const seq2 = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq: seq2 });
  });
});
