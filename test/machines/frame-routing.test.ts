import { describe, expect, it } from 'vitest';
import { routeFrame } from '../../src/machines/frame-routing.ts';
import type { Message } from '../../src/protocol/messages.ts';

const envelope = { v: 1, id: 'm-1', ts: 0 } as const;
const frame = <M extends Omit<Message, 'v' | 'id' | 'ts'>>(message: M) => ({ ...envelope, ...message }) as unknown as Message;

describe('routeFrame', () => {
  it('tells the heartbeat of every frame, and the round trip a heartbeat_ack ends; the host hears nothing of it', () => {
    expect(routeFrame(frame({ type: 'heartbeat_ack', seq: 4, server_time: 0 }))).toEqual({
      heartbeat: { type: 'activity', ackSeq: 4 },
      host: false,
    });
  });

  it('gives the answers to an in-band auth_refresh to the auth machine only', () => {
    expect(routeFrame(frame({ type: 'auth_refresh_ack' } as never))).toMatchObject({ auth: { type: 'token.accepted' }, host: false });
    const refused = routeFrame(frame({ type: 'error', code: 'auth_failed', message: 'no', ref_id: 'auth_refresh:7' } as never));
    expect(refused).toMatchObject({ auth: { type: 'token.rejected' }, host: false });
  });

  it('leaves an error about something else to the host', () => {
    const route = routeFrame(frame({ type: 'error', code: 'bad_request', message: 'no', ref_id: 'x:1' } as never));
    expect(route).toEqual({ heartbeat: { type: 'activity' }, host: true });
  });

  it('sends a channel frame to the actor of its channel, and tells the host too', () => {
    const message = frame({ type: 'channel_message', channel: 'task:t1', event: 'note', payload: {}, offset: 3 } as never);
    expect(routeFrame(message)).toEqual({
      heartbeat: { type: 'activity' },
      channel: { id: 'channel.task:t1', event: { type: 'frame', message } },
      host: true,
    });
  });

  it('sends settings frames to the settings-sync child', () => {
    const message = frame({ type: 'settings_patch' } as never);
    expect(routeFrame(message)).toEqual({ heartbeat: { type: 'activity' }, settings: { type: 'frame', message }, host: true });
  });

  it('leaves data frames to the host (and the data plane behind it) alone', () => {
    for (const type of ['ack', 'execution_request', 'execution_cancel', 'messaging_event', 'capability_reload'] as const) {
      expect(routeFrame(frame({ type } as never))).toEqual({ heartbeat: { type: 'activity' }, host: true });
    }
  });
});
