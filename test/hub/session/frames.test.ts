import { describe, expect, it } from 'vitest';
import { envelope, ManualClock, nextEvent, startHub, TestClient, TOKEN } from '../helpers.ts';

describe('hub frame validation', () => {
  it('answers each bad frame with an error frame of the right code and ref_id, and keeps the session', async () => {
    const { hub, url } = await startHub();
    const { client } = await TestClient.connect(url);
    const frameErrors: string[] = [];
    hub.on('frame_error', (session, error) => frameErrors.push(`${session?.device_id}:${error.code}`));

    client.send('{not json');
    expect(await client.next()).toMatchObject({ type: 'error', code: 'not_json' });

    const unknown = envelope('teleport', { to: 'mars' });
    client.send(unknown);
    expect(await client.next()).toMatchObject({ type: 'error', code: 'unknown_type', ref_id: unknown.id });

    client.send({ type: 'heartbeat', seq: 1 });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'invalid_envelope' });

    const negative = envelope('heartbeat', { seq: -1 });
    client.send(negative);
    const violation = await client.next();
    expect(violation).toMatchObject({ type: 'error', code: 'schema_violation', ref_id: negative.id });
    expect(violation.message).toContain('seq');

    const usage = envelope('usage_report', { request_id: 'r1', executor_device_id: 'device-1', metrics: { duration_ms: 'slow' } });
    client.send(usage);
    const nested = await client.next();
    expect(nested).toMatchObject({ code: 'schema_violation', ref_id: usage.id });
    expect(nested.message).toContain('metrics.duration_ms');

    const wrongWay = envelope('heartbeat_ack', { seq: 1, server_time: 0 });
    client.send(wrongWay);
    const direction = await client.next();
    expect(direction).toMatchObject({ type: 'error', code: 'schema_violation', ref_id: wrongWay.id });
    expect(direction.message).toContain('wrong direction');

    const request = envelope('execution_request', { request_id: 'r1', job_type: 'tool', tool_name: 'x' });
    client.send(request);
    expect(await client.next()).toMatchObject({ code: 'schema_violation', ref_id: request.id });

    const again = envelope('connect', { device_id: 'device-1', tenant_id: 'tenant-1', token: TOKEN });
    client.send(again);
    const second = await client.next();
    expect(second).toMatchObject({ code: 'schema_violation', ref_id: again.id });
    expect(second.message).toContain('already established');

    const seq = client.heartbeat();
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    expect(frameErrors).toEqual([
      'device-1:not_json',
      'device-1:unknown_type',
      'device-1:invalid_envelope',
      'device-1:schema_violation',
      'device-1:schema_violation',
      'device-1:schema_violation',
      'device-1:schema_violation',
      'device-1:schema_violation',
    ]);
  });

  it('closes 1008 once the bad frames pass maxBadFrames within a minute', async () => {
    const { url } = await startHub({ staticToken: TOKEN, maxBadFrames: 3 });
    const { client } = await TestClient.connect(url);
    for (let i = 0; i < 3; i++) client.send('bad');
    const seq = client.heartbeat();
    for (let i = 0; i < 3; i++) expect((await client.next()).code).toBe('not_json');
    // Still open at the limit.
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });

    client.send('one too many');
    expect((await client.next()).code).toBe('not_json');
    expect(await client.closed).toEqual({ code: 1008, reason: 'too_many_bad_frames' });
  });

  it('forgets bad frames older than a minute', async () => {
    const clock = new ManualClock();
    const { url } = await startHub({
      staticToken: TOKEN,
      maxBadFrames: 2,
      clock,
      heartbeatIntervalMs: 600_000,
      heartbeatTimeoutMs: 600_000,
    });
    const { client } = await TestClient.connect(url);
    client.send('bad');
    client.send('bad');
    expect((await client.next()).code).toBe('not_json');
    expect((await client.next()).code).toBe('not_json');

    clock.advance(60_000);
    client.send('bad');
    client.send('bad');
    const seq = client.heartbeat();
    expect((await client.next()).code).toBe('not_json');
    expect((await client.next()).code).toBe('not_json');
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });

    client.send('bad');
    expect((await client.closed).code).toBe(1008);
  });

  it('closes 1009 on a frame larger than maxFrameBytes, and reports 1009 in session_close', async () => {
    const { hub, url } = await startHub({ staticToken: TOKEN, maxFrameBytes: 2048 });
    const { client, ack } = await TestClient.connect(url);
    expect(ack.max_frame_bytes).toBe(2048);
    const errored = nextEvent(hub, 'frame_error');
    const closed = nextEvent(hub, 'session_close');

    client.send(envelope('execution_event', { event_id: 'e', request_id: 'r', event_type: 'progress', data: { blob: 'x'.repeat(4096) } }));
    expect((await client.closed).code).toBe(1009);
    expect((await errored)[1].code).toBe('too_large');
    // ws stops reading after the error, so without the fix this was the 1006 of a lost echo.
    expect((await closed).slice(1)).toEqual([1009, 'too_large']);
  });

  it('sends an error frame then closes 4004 on an unsupported protocol version', async () => {
    const { url } = await startHub();
    const { client } = await TestClient.connect(url);
    client.send({ v: 2, id: 'future-1', type: 'heartbeat', ts: 0, seq: 1 });

    const error = await client.next();
    expect(error).toMatchObject({ type: 'error', code: 'unsupported_version', ref_id: 'future-1' });
    expect(await client.closed).toEqual({ code: 4004, reason: 'unsupported_version' });
  });

  it('emits valid device messages as decoded message events', async () => {
    const { hub, url } = await startHub();
    const { client, ack } = await TestClient.connect(url, { device_id: 'd7', tenant_id: 't7' });
    const received = nextEvent(hub, 'message');
    const event = envelope('execution_event', { event_id: 'e1', request_id: 'r1', event_type: 'started' });
    client.send(event);

    const [session, message] = await received;
    expect(session).toMatchObject({ device_id: 'd7', tenant_id: 't7', session_id: ack.session_id });
    // Decoded by the codec: defaults filled in.
    expect(message).toEqual({ ...event, data: {} });
  });

  it('survives a listener that throws', async () => {
    const { hub, url } = await startHub();
    hub.on('message', () => {
      throw new Error('listener bug');
    });
    const { client } = await TestClient.connect(url);
    client.send(envelope('execution_event', { event_id: 'e1', request_id: 'r1', event_type: 'started' }));
    const seq = client.heartbeat();

    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
    expect(hub.devices()).toHaveLength(1);
  });
});
