import { describe, expect, it } from 'vitest';
import { HubError } from '../../../src/hub/index.ts';
import { settle } from '../../support/execution-fixture.ts';
import { envelope, ManualClock, startHub, TestClient, TOKEN } from '../helpers.ts';

const join = (channel: string, extra: object = {}) => envelope('channel_join', { channel, ...extra });
const registration = (id: string) => ({ instance_id: id, app: { name: 'vscode', version: '1' }, platform: 'linux' });

describe('hub channels', () => {
  it('refuses to publish what could never be delivered, so the replay window stays sound', async () => {
    const { hub, url } = await startHub({ staticToken: TOKEN, maxFrameBytes: 4096 });
    hub.openTask('tenant-1', 't1');
    expect(() => hub.publish('tenant-1', 'task:t1', 'message', { text: 'x'.repeat(10_000) })).toThrow(HubError);
    expect(() => hub.publish('tenant-1', 'no such channel', 'message', {})).toThrow(HubError);
    expect(hub.publish('tenant-1', 'task:t1', 'message', { text: 'ok' })).toBe(1);
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

  it("keeps an extension instance with the device that registered it", async () => {
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

  it("does not take a messaging reply or a reload result from a device the request did not go to", async () => {
    const { hub, url } = await startHub();
    const victim = await TestClient.connect(url, { device_id: 'dev-a', tenant_id: 'acme' });
    const { reply } = hub.sendMessagingEvent('dev-a', { request_id: 'line-123', channel: 'line', event_type: 'message', message: { text: 'hi' }, user_id: 'U1' }, { tenantId: 'acme' });
    expect(await victim.client.next()).toMatchObject({ type: 'messaging_event', request_id: 'line-123' });
    const reload = hub.reloadCapabilities('dev-a', ['p@1'], { tenantId: 'acme' });
    const reloadFrame = await victim.client.next();
    const attacker = await TestClient.connect(url, { device_id: 'dev-x', tenant_id: 'globex' });
    attacker.client.send(envelope('messaging_reply', { seq: 1, request_id: 'line-123', channel: 'line', result: { status: 'completed', text: 'spoofed' } }));
    attacker.client.send(envelope('capability_reload_result', { reload_id: reloadFrame.reload_id, ok: false, error: 'spoofed' }));
    expect(await attacker.client.next()).toMatchObject({ type: 'ack', seq: 1 });
    // The real device reconnects before acknowledging: the hub resends the event, the device answers
    // the copy `duplicate` (not final after a resend), then gives its real answer.
    await victim.client.close();
    const back = await TestClient.connect(url, { device_id: 'dev-a', tenant_id: 'acme' });
    expect(await back.client.next()).toMatchObject({ type: 'messaging_event', request_id: 'line-123' });
    back.client.send(envelope('messaging_reply', { seq: 1, request_id: 'line-123', channel: 'line', result: { status: 'duplicate', reason: 'resend' } }));
    back.client.send(envelope('messaging_reply', { seq: 2, request_id: 'line-123', channel: 'line', result: { status: 'completed', text: 'real' } }));
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
});
