import { describe, expect, it } from 'vitest';
import { HubError } from '../../../src/hub/index.ts';
import { settle } from '../../support/execution-fixture.ts';
import { connectFrame, envelope, ManualClock, startHub, TestClient, TOKEN } from '../helpers.ts';

const join = (channel: string, extra: object = {}) => envelope('channel_join', { channel, ...extra });
const registration = (id: string) => ({ instance_id: id, app: { name: 'vscode', version: '1' }, platform: 'linux' });

describe('hub channels', () => {
  it('refuses to publish what could never be delivered, so the replay window stays sound', async () => {
    const { hub, url } = await startHub({ staticToken: TOKEN, maxFrameBytes: 4096 });
    hub.openTask('tenant-1', 't1');
    expect(() => hub.publish('tenant-1', 'task:t1', 'message', { text: 'x'.repeat(10_000) })).toThrow(HubError);
    expect(() => hub.publish('tenant-1', 'no such channel', 'message', {})).toThrow(HubError);
    expect(await hub.publish('tenant-1', 'task:t1', 'message', { text: 'ok' })).toBe(1);
    const { client } = await TestClient.connect(url);
    client.send(join('task:t1', { recover: { epoch: 'other-epoch', offset: 0 } }));
    expect(await client.next()).toMatchObject({ type: 'channel_joined', offset: 1, recovery: 'lost' });
  });

  it('replays what a rejoin missed, in order, after channel_joined', async () => {
    const { hub, url } = await startHub();
    hub.openTask('tenant-1', 't1');
    const first = await TestClient.connect(url);
    first.client.send(join('task:t1'));
    const joined = await first.client.next();
    await first.client.close();
    for (const text of ['a', 'b']) hub.publish('tenant-1', 'task:t1', 'message', { text });
    const again = await TestClient.connect(url);
    again.client.send(join('task:t1', { recover: { epoch: joined.epoch, offset: 0 } }));
    expect(await again.client.next()).toMatchObject({ type: 'channel_joined', recovery: 'recovered', offset: 2 });
    expect(await again.client.next()).toMatchObject({ type: 'channel_message', offset: 1, payload: { text: 'a' } });
    expect(await again.client.next()).toMatchObject({ type: 'channel_message', offset: 2, payload: { text: 'b' } });
  });

  it('answers a message on a channel not joined with not_joined, and closes a task for its members', async () => {
    const { hub, url } = await startHub();
    hub.openTask('tenant-1', 't1');
    const { client } = await TestClient.connect(url);
    client.send(envelope('channel_message', { channel: 'task:t1', event: 'x', payload: {} }));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'not_joined' });
    client.send(join('task:t1'));
    await client.next();
    hub.closeTask('tenant-1', 't1');
    expect(await client.next()).toMatchObject({ type: 'channel_left', channel: 'task:t1' });
    client.send(join('task:t1'));
    expect(await client.next()).toMatchObject({ type: 'channel_refused', reason: 'unknown_channel' });
  });

  it('keeps an extension instance with the device that registered it', async () => {
    const { hub, url } = await startHub();
    const a = await TestClient.connect(url, { device_id: 'dev-a' });
    a.client.send(join('extension'));
    await a.client.next();
    a.client.send(envelope('channel_message', { channel: 'extension', event: 'register', payload: registration('vscode-a') }));
    const b = await TestClient.connect(url, { device_id: 'dev-b' });
    b.client.send(join('extension'));
    await b.client.next();
    b.client.send(envelope('channel_message', { channel: 'extension', event: 'heartbeat', payload: registration('vscode-a') }));
    b.client.send(envelope('channel_message', { channel: 'extension', event: 'unregister', payload: { instance_id: 'vscode-a' } }));
    // A frame on the same socket after those: once it is answered, they were handled.
    b.client.send(envelope('channel_message', { channel: 'task:none', event: 'x', payload: {} }));
    await b.client.next();
    expect(hub.instances('tenant-1')).toEqual([expect.objectContaining({ instance_id: 'vscode-a', device_id: 'dev-a' })]);
  });

  it('does not take a messaging reply or a reload result from a device the request did not go to', async () => {
    const { hub, url } = await startHub();
    const victim = await TestClient.connect(url, { device_id: 'dev-a', tenant_id: 'acme' });
    const { reply } = hub.sendMessagingEvent(
      'dev-a',
      { request_id: 'line-123', channel: 'line', event_type: 'message', message: { text: 'hi' }, user_id: 'U1' },
      { tenantId: 'acme' },
    );
    expect(await victim.client.next()).toMatchObject({ type: 'messaging_event', request_id: 'line-123' });
    const reload = hub.reloadCapabilities('dev-a', ['p@1'], { tenantId: 'acme' });
    const reloadFrame = await victim.client.next();
    const attacker = await TestClient.connect(url, { device_id: 'dev-x', tenant_id: 'globex' });
    attacker.client.send(
      envelope('messaging_reply', { seq: 1, request_id: 'line-123', channel: 'line', result: { status: 'completed', text: 'spoofed' } }),
    );
    attacker.client.send(envelope('capability_reload_result', { reload_id: reloadFrame.reload_id, ok: false, error: 'spoofed' }));
    expect(await attacker.client.next()).toMatchObject({ type: 'ack', seq: 1 });
    // The real device reconnects before acknowledging: the hub resends the event, the device answers
    // the copy `duplicate` (not final after a resend), then gives its real answer.
    await victim.client.close();
    const back = await TestClient.connect(url, { device_id: 'dev-a', tenant_id: 'acme' });
    expect(await back.client.next()).toMatchObject({ type: 'messaging_event', request_id: 'line-123' });
    back.client.send(
      envelope('messaging_reply', { seq: 1, request_id: 'line-123', channel: 'line', result: { status: 'duplicate', reason: 'resend' } }),
    );
    back.client.send(
      envelope('messaging_reply', { seq: 2, request_id: 'line-123', channel: 'line', result: { status: 'completed', text: 'real' } }),
    );
    back.client.send(envelope('capability_reload_result', { reload_id: reloadFrame.reload_id, ok: true }));
    expect(await reply).toEqual({ status: 'completed', text: 'real' });
    expect(await reload).toEqual({ ok: true });
  });

  it('gives up on a capability reload the device never answers', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock });
    const { client } = await TestClient.connect(url);
    const result = hub.reloadCapabilities('device-1', ['p@1']);
    expect(await client.next()).toMatchObject({ type: 'capability_reload' });
    await client.close();
    await settle();
    clock.advance(30_000);
    expect(await result).toEqual({ ok: false, error: 'no answer from the device within 30 s' });
  });

  it('answers a v1 device as v1: no capabilities in connect_ack, no channel_ack for a message without seq', async () => {
    const { hub, url } = await startHub();
    hub.openTask('tenant-1', 't1');
    const delivered: unknown[] = [];
    hub.on('channel_message', (_info, message) => delivered.push(message.payload));
    const { client, ack } = await TestClient.connect(url);
    expect(ack).not.toHaveProperty('capabilities');
    client.send(join('task:t1'));
    await client.next();
    client.send(envelope('channel_message', { channel: 'task:t1', event: 'x', payload: { n: 1 } }));
    const beat = client.heartbeat();
    // The hub answers in order: the heartbeat's ack comes next, nothing for the message.
    expect(await client.next()).toMatchObject({ type: 'heartbeat_ack', seq: beat });
    expect(delivered).toEqual([{ n: 1 }]);
  });

  it('acknowledges a reliable message, and a resend of it (same id) on a later session is acknowledged and not delivered again', async () => {
    const { hub, url } = await startHub();
    hub.openTask('tenant-1', 't1');
    const delivered: unknown[] = [];
    hub.on('channel_message', (_info, message) => delivered.push(message.payload));
    const capable = async () => {
      const client = await TestClient.open(url);
      client.send({ ...connectFrame(), capabilities: ['channel_ack', 'from_the_future'] });
      const ack = await client.next();
      client.send(join('task:t1'));
      await client.next();
      return { client, ack };
    };
    const first = await capable();
    // Of what the device announced, only what the hub speaks.
    expect(first.ack).toMatchObject({ type: 'connect_ack', capabilities: ['channel_ack'] });
    const message = envelope('channel_message', { channel: 'task:t1', event: 'approved', payload: { step: 3 }, seq: 1 });
    first.client.send(message);
    expect(await first.client.next()).toMatchObject({ type: 'channel_ack', channel: 'task:t1', seq: 1 });
    await first.client.close();
    const second = await capable();
    second.client.send(message);
    second.client.send(envelope('channel_message', { channel: 'task:t1', event: 'approved', payload: { step: 4 }, seq: 2 }));
    expect(await second.client.next()).toMatchObject({ type: 'channel_ack', seq: 1 });
    expect(await second.client.next()).toMatchObject({ type: 'channel_ack', seq: 2 });
    expect(delivered).toEqual([{ step: 3 }, { step: 4 }]);
  });

  it('does not acknowledge a reliable message on a channel not joined: the device sends it again once joined', async () => {
    const { hub, url } = await startHub();
    hub.openTask('tenant-1', 't1');
    const client = await TestClient.open(url);
    client.send({ ...connectFrame(), capabilities: ['channel_ack'] });
    await client.next();
    client.send(envelope('channel_message', { channel: 'task:t1', event: 'x', payload: {}, seq: 1 }));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'not_joined' });
  });

  it('forgets the ids of a device quiet for dedupeTtlMs, and keeps at most dedupeWindow of them', async () => {
    const clock = new ManualClock();
    const { hub, url } = await startHub({ staticToken: TOKEN, clock, channels: { dedupeWindow: 2, dedupeTtlMs: 1_000 } });
    hub.openTask('tenant-1', 't1');
    const delivered: unknown[] = [];
    hub.on('channel_message', (_info, message) => delivered.push(message.payload));
    const client = await TestClient.open(url);
    client.send({ ...connectFrame(), capabilities: ['channel_ack'] });
    await client.next();
    client.send(join('task:t1'));
    await client.next();
    const sent = [1, 2, 3].map((n) => envelope('channel_message', { channel: 'task:t1', event: 'x', payload: { n }, seq: n }));
    for (const message of sent) client.send(message);
    for (const n of [1, 2, 3]) expect(await client.next()).toMatchObject({ type: 'channel_ack', seq: n });
    // The window holds the last two: the first one is new again.
    client.send(sent[0]!);
    client.send(sent[2]!);
    await client.next();
    await client.next();
    expect(delivered.map((p) => (p as { n: number }).n)).toEqual([1, 2, 3, 1]);
    // Quiet past the TTL: what it remembered of the device is gone.
    clock.advance(1_000);
    client.send(sent[2]!);
    await client.next();
    expect(delivered.map((p) => (p as { n: number }).n)).toEqual([1, 2, 3, 1, 3]);
  });
});
