import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES } from '../../../src/protocol/index.ts';
import { connectFrame, envelope, nextEvent, startHub, TestClient, TOKEN } from '../helpers.ts';

describe('hub handshake', () => {
  it('answers a valid connect with connect_ack carrying the session parameters', async () => {
    const { hub, url } = await startHub({ staticToken: TOKEN, heartbeatIntervalMs: 30_000, heartbeatTimeoutMs: 5_000 });
    const opened = nextEvent(hub, 'session_open');
    const before = Date.now();
    const { ack } = await TestClient.connect(url, { device_id: 'laptop-1', tenant_id: 'acme' });

    expect(ack).toMatchObject({
      v: 1,
      type: 'connect_ack',
      heartbeat_interval_ms: 30_000,
      heartbeat_timeout_ms: 5_000,
      max_frame_bytes: MAX_FRAME_BYTES,
    });
    expect(ack.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(ack.server_time).toBeGreaterThanOrEqual(before);
    const [info] = await opened;
    expect(info).toMatchObject({ device_id: 'laptop-1', tenant_id: 'acme', session_id: ack.session_id });
    expect(hub.devices()).toEqual([info]);
  });

  it('refuses a wrong token with an auth_failed error frame, then closes 4001', async () => {
    const { hub, url } = await startHub();
    const client = await TestClient.open(url);
    const connect = connectFrame({ token: 'wrong-token' });
    client.send(connect);

    expect(await client.next()).toMatchObject({ type: 'error', code: 'auth_failed', ref_id: connect.id });
    expect(await client.closed).toEqual({ code: 4001, reason: 'auth_failed' });
    expect(hub.devices()).toEqual([]);
  });

  it('passes the token and the claimed identity to authenticate', async () => {
    const calls: unknown[][] = [];
    const { url } = await startHub({
      authenticate: (token, who) => {
        calls.push([token, who]);
        return who.tenant_id === 'acme';
      },
    });
    await TestClient.connect(url, { device_id: 'd1', tenant_id: 'acme', token: 'jwt-1' });
    const refused = await TestClient.open(url);
    refused.send(connectFrame({ device_id: 'd2', tenant_id: 'other', token: 'jwt-2' }));

    expect((await refused.closed).code).toBe(4001);
    expect(calls).toEqual([
      ['jwt-1', { device_id: 'd1', tenant_id: 'acme' }],
      ['jwt-2', { device_id: 'd2', tenant_id: 'other' }],
    ]);
  });

  it('answers not_connected and closes 1008 when the first frame is a valid message other than connect', async () => {
    const { hub, url } = await startHub();
    const client = await TestClient.open(url);
    const errored = nextEvent(hub, 'frame_error');
    const heartbeat = envelope('heartbeat', { seq: 1 });
    client.send(heartbeat);

    const error = await client.next();
    expect(error).toMatchObject({ type: 'error', code: 'not_connected', ref_id: heartbeat.id });
    expect(error.message).toContain("first frame must be 'connect'");
    expect(await client.closed).toEqual({ code: 1008, reason: 'expected_connect' });
    const [session, frameError] = await errored;
    expect(session).toBeNull();
    // FrameErrorCode (src/protocol) has no not_connected: the event keeps the codec's nearest code.
    expect(frameError).toMatchObject({ code: 'schema_violation', detail: { type: 'heartbeat', messageId: heartbeat.id } });
  });

  it('closes 1008 when the first frame is not JSON', async () => {
    const { url } = await startHub();
    const client = await TestClient.open(url);
    client.send('hello?');

    const error = await client.next();
    expect(error).toMatchObject({ type: 'error', code: 'not_json' });
    expect(error).not.toHaveProperty('ref_id');
    expect((await client.closed).code).toBe(1008);
  });

  it('closes 4004 when the first frame speaks another protocol version', async () => {
    const { url } = await startHub();
    const client = await TestClient.open(url);
    client.send({ ...connectFrame(), v: 2, id: 'c-v2' });

    expect(await client.next()).toMatchObject({ type: 'error', code: 'unsupported_version', ref_id: 'c-v2' });
    expect((await client.closed).code).toBe(4004);
  });

  it('closes 4005 when no connect arrives within handshakeTimeoutMs', async () => {
    const { url } = await startHub({ staticToken: TOKEN, handshakeTimeoutMs: 200 });
    const started = Date.now();
    const client = await TestClient.open(url);

    expect(await client.closed).toEqual({ code: 4005, reason: 'handshake_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('handles frames pipelined behind connect after an async authenticate, in order', async () => {
    const { url } = await startHub({
      authenticate: async (token) => {
        await new Promise((resolve) => setImmediate(resolve));
        return token === TOKEN;
      },
    });
    const client = await TestClient.open(url);
    client.send(connectFrame());
    const seq = client.heartbeat();

    expect((await client.next()).type).toBe('connect_ack');
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq });
  });

  it('closes 1008 when frames pile up behind connect while authenticate runs, and never opens', async () => {
    let release: (accepted: boolean) => void = () => {};
    const { hub, url } = await startHub({
      authenticate: () => new Promise<boolean>((resolve) => (release = resolve)),
    });
    const opened: unknown[] = [];
    hub.on('session_open', (info) => opened.push(info));
    const client = await TestClient.open(url);
    client.send(connectFrame());
    for (let i = 0; i < 33; i++) client.heartbeat();

    expect(await client.closed).toEqual({ code: 1008, reason: 'too_many_frames_before_ack' });
    release(true);
    // Let the authenticate continuation run: it must see the session is gone.
    await new Promise(setImmediate);
    expect(opened).toEqual([]);
    expect(hub.devices()).toEqual([]);
  });

  it('closes 1013 try_again_later, not 4001, when authenticate throws', async () => {
    const { hub, url } = await startHub({
      authenticate: () => {
        throw new Error('auth backend down');
      },
    });
    const client = await TestClient.open(url);
    client.send(connectFrame());

    expect(await client.next()).toMatchObject({ type: 'error', code: 'internal' });
    expect((await client.closed).code).toBe(1013);
    expect(hub.devices()).toEqual([]);
  });
});
