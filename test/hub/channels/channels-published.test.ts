import { describe, expect, it } from 'vitest';
import type { ChannelHistory, HistoryEntry, StoredChannel } from '../../../src/hub/channels/channel-history.ts';
import { HubChannels } from '../../../src/hub/channels/channels.ts';
import type { SessionInfo } from '../../../src/hub/core/events.ts';
import type { Session } from '../../../src/hub/session/session.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { createCodec } from '../../../src/protocol/codec.ts';
import { settle } from '../../support/execution-fixture.ts';
import { ManualClock } from '../helpers.ts';

/**
 * How one node's channels follow a history that other nodes append to (the Redis engine's, in
 * production: test/hub/channels/channel-history-redis.test.ts runs it on a real Redis). Here the
 * history's answers are handed in by the test, so the orders Redis does not let a test force are
 * forced: a join's read that saw messages whose announcements have not arrived yet, a read older
 * than what was announced, an announcement lost.
 */
const EPOCH = 'ch_one';
/** The hub's clock; every message is published now, well inside the replay window's age. */
const clock = new ManualClock();
const entry = (offset: number): HistoryEntry => ({ offset, event: 'note', payload: { n: offset }, at: clock.now() });
const upTo = (offset: number): StoredChannel => ({
  key: 'acme\u0000extension',
  epoch: EPOCH,
  offset,
  log: Array.from({ length: offset }, (_, i) => entry(i + 1)),
});

/** A history whose next read answers what the test says (or fails, with `failing`). */
function scriptedHistory(): ChannelHistory & { next: StoredChannel; failing: boolean } {
  return {
    next: upTo(0),
    failing: false,
    restore: () => Promise.resolve([]),
    read(): Promise<StoredChannel> {
      if (this.failing) return Promise.reject(new Error('Redis refused the read'));
      return Promise.resolve(structuredClone(this.next));
    },
    append: () => Promise.reject(new Error('not in this test')),
    forget: () => Promise.resolve(),
  };
}

/** A session that keeps what it is sent. */
function member(id: string): { session: Session; info: SessionInfo; frames: Array<Record<string, unknown>> } {
  const frames: Array<Record<string, unknown>> = [];
  const info: SessionInfo = { device_id: id, tenant_id: 'acme', session_id: `s-${id}`, connected_since: 0 };
  const session = { info, send: (frame: Record<string, unknown>) => void frames.push(frame) } as unknown as Session;
  return { session, info, frames };
}

describe('channel messages announced by the history', () => {
  it('sends each member every offset once, in order, whatever its join read; fills a gap from the history, and never replays across one it could not fill', async () => {
    const history = scriptedHistory();
    const channels = new HubChannels({
      channels: { replayWindow: 100, replayMaxAgeMs: 3_600_000, instanceTtlMs: 60_000 },
      codec: createCodec(),
      clock,
      logger: silentLogger(),
      onMessage: () => {},
      history,
    });
    const join = async (who: ReturnType<typeof member>, recover?: { epoch: string; offset: number }) => {
      channels.receive(who.session, who.info, {
        v: 1,
        id: `j-${who.info.device_id}`,
        ts: 0,
        type: 'channel_join',
        channel: 'extension',
        ...(recover && { recover }),
      });
      await settle();
      return who.frames.shift();
    };
    const announce = (offset: number) =>
      channels.published({
        tenant_id: 'acme',
        channel: 'extension',
        event: 'note',
        payload: { n: offset },
        offset,
        epoch: EPOCH,
        at: clock.now(),
      });
    const offsets = (who: ReturnType<typeof member>) => who.frames.splice(0).map((frame) => frame.offset);

    const first = member('first');
    history.next = upTo(5);
    expect(await join(first)).toMatchObject({ type: 'channel_joined', epoch: EPOCH, offset: 5 });
    announce(6);
    expect(offsets(first)).toEqual([6]);

    // A second member's read saw 7 and 8 before their announcements reached this node.
    const second = member('second');
    history.next = upTo(8);
    expect(await join(second)).toMatchObject({ type: 'channel_joined', offset: 8 });
    for (const offset of [7, 8, 9]) announce(offset);
    expect(offsets(first)).toEqual([7, 8, 9]);
    expect(offsets(second)).toEqual([9]);

    // A read older than what was announced: the announced messages follow it, and are replayed with it.
    const third = member('third');
    history.next = upTo(7);
    expect(await join(third, { epoch: EPOCH, offset: 6 })).toMatchObject({ type: 'channel_joined', offset: 9, recovery: 'recovered' });
    expect(offsets(third)).toEqual([7, 8, 9]);

    // 10 and 11 were never heard here (the broker connection dropped): the members get them from the history first.
    history.next = upTo(12);
    announce(12);
    await settle();
    expect([offsets(first), offsets(second), offsets(third)]).toEqual([
      [10, 11, 12],
      [10, 11, 12],
      [10, 11, 12],
    ]);
    announce(10);
    announce(11);
    expect([offsets(first), offsets(second), offsets(third)]).toEqual([[], [], []]);

    // 13 and 14 missed too, and the history cannot be read now: the members go on from 15, and no replay spans the gap.
    history.failing = true;
    announce(15);
    announce(16);
    await settle();
    expect([offsets(first), offsets(second), offsets(third)]).toEqual([
      [15, 16],
      [15, 16],
      [15, 16],
    ]);
    history.failing = false;
    const fourth = member('fourth');
    history.next = upTo(12);
    expect(await join(fourth, { epoch: EPOCH, offset: 12 })).toMatchObject({ type: 'channel_joined', offset: 16, recovery: 'lost' });
    expect(offsets(fourth)).toEqual([]);
  });
});
