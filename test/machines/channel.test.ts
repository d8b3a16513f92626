import { describe, expect, it } from 'vitest';
import { type AnyEventObject, createActor, createMachine, SimulatedClock } from 'xstate';
import { ChannelPolicy, channelMachine, statusOf } from '../../src/machines/channel.ts';

/** A channel actor under a recording parent; the test plays the hub. */
function world(linkUp: boolean) {
  const clock = new SimulatedClock();
  const out: AnyEventObject[] = [];
  const policy = ChannelPolicy.parse({ joinTimeoutMs: 5_000, baseMs: 500, capMs: 8_000 });
  const parent = createMachine({
    invoke: { id: 'channel', src: channelMachine, input: { channel: 'task:t1', linkUp, policy, seed: 7, now: () => clock.now() } },
    on: { '*': { actions: ({ event }) => void out.push(event) } },
  });
  const actor = createActor(parent, { clock }).start();
  const channel = actor.getSnapshot().children.channel!;
  return { clock, out, channel, status: () => statusOf(channel.getSnapshot()) };
}

describe('channel statusOf', () => {
  it('reports a channel waiting for the link, with what it buffers', () => {
    const w = world(false);
    w.channel.send({ type: 'send', id: 's1', event: 'note', payload: {} });
    expect(w.status()).toEqual({
      channel: 'task:t1',
      state: 'waiting',
      reason: w.channel.getSnapshot().context.reason,
      attempt: 0,
      buffered: 1,
    });
  });

  it('reports the refusal and the delay before the next join while errored', () => {
    const w = world(true);
    expect(w.status().state).toBe('joining');
    w.channel.send({
      type: 'frame',
      message: { v: 1, id: 'r', ts: 0, type: 'channel_refused', channel: 'task:t1', reason: 'forbidden', message: 'no' },
    } as never);
    const status = w.status();
    expect(status).toMatchObject({ state: 'errored', reason: 'refused', attempt: 1, refusal: { reason: 'forbidden', message: 'no' } });
    expect(status.retryInMs).toBe(w.channel.getSnapshot().context.retryInMs);
  });
});

describe('channel reliable sends', () => {
  const joinedFrame = {
    type: 'frame',
    message: { v: 1, id: 'j', ts: 0, type: 'channel_joined', channel: 'task:t1', epoch: 'e1', offset: 0, recovery: 'none' },
  } as never;
  const sentMessages = (out: AnyEventObject[]) =>
    out.filter((e) => e.type === 'channel.out' && e.message.type === 'channel_message').map((e) => e.message);

  it('sends a reliable send with its own id and seq; an unreliable one stays as v1 sends it', () => {
    const w = world(true);
    w.channel.send(joinedFrame);
    w.channel.send({ type: 'send', id: 'r1', event: 'approved', payload: { step: 3 }, seq: 9 });
    w.channel.send({ type: 'send', id: 'u1', event: 'note', payload: {} });
    expect(sentMessages(w.out)).toEqual([
      { type: 'channel_message', channel: 'task:t1', event: 'approved', payload: { step: 3 }, id: 'r1', seq: 9 },
      { type: 'channel_message', channel: 'task:t1', event: 'note', payload: {} },
    ]);
  });

  it('keeps id and seq of a reliable send it buffered until joined', () => {
    const w = world(false);
    w.channel.send({ type: 'send', id: 'r1', event: 'approved', payload: {}, seq: 2 });
    w.clock.increment(1_000);
    w.channel.send({ type: 'link.up' });
    w.channel.send(joinedFrame);
    expect(sentMessages(w.out)).toEqual([
      { type: 'channel_message', channel: 'task:t1', event: 'approved', payload: {}, id: 'r1', seq: 2 },
    ]);
  });
});
