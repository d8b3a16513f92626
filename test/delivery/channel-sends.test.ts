import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ChannelSends, type ChannelSendEntry } from '../../src/delivery/channel-sends.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { createMemoryRecordLog, openRecordLog } from '../../src/storage/record-log.ts';

function sendsOn(clock = new SimulatedClock(), policy: { maxUnacked?: number; ttlMs?: number } = {}) {
  const now = () => clock.now();
  return new ChannelSends({ log: createMemoryRecordLog<ChannelSendEntry>({ now }), now, logger: silentLogger(), policy });
}

describe('ChannelSends', () => {
  it('numbers messages per device across channels, and an ack settles only its channel up to its seq', async () => {
    const sends = sendsOn();
    const a1 = await sends.add('task:a', 'x', { n: 1 })!.stored;
    const b1 = await sends.add('task:b', 'x', { n: 2 })!.stored;
    const a2 = await sends.add('task:a', 'x', { n: 3 })!.stored;
    expect([a1.seq, b1.seq, a2.seq]).toEqual([1, 2, 3]);
    sends.ack('task:a', 2);
    expect(sends.pending('task:a').map((s) => s.seq)).toEqual([3]);
    expect(sends.pending('task:b')).toEqual([{ channel: 'task:b', event: 'x', payload: { n: 2 }, id: b1.id, seq: 2 }]);
    expect(sends.depth).toBe(2);
    // An ack again (a resend acknowledged twice) changes nothing.
    sends.ack('task:a', 1);
    expect(sends.depth).toBe(2);
  });

  it('refuses a message past maxUnacked, counting those still being stored', async () => {
    const sends = sendsOn(new SimulatedClock(), { maxUnacked: 2 });
    const first = sends.add('task:a', 'x', {});
    expect(sends.add('task:a', 'x', {})).toBeDefined();
    expect(sends.add('task:a', 'x', {})).toBeUndefined();
    sends.ack('task:a', (await first!.stored).seq);
    expect(sends.add('task:a', 'x', {})).toBeDefined();
  });

  it('drops what waited past its TTL, on the simulated clock', async () => {
    const clock = new SimulatedClock();
    const sends = sendsOn(clock, { ttlMs: 1_000 });
    const old = sends.add('task:a', 'old', {})!;
    await old.stored;
    clock.increment(600);
    await sends.add('task:b', 'young', {})!.stored;
    clock.increment(399);
    expect(sends.expire()).toEqual([]);
    clock.increment(1);
    expect(sends.expire()).toEqual([{ channel: 'task:a', event: 'old', payload: {}, id: old.id }]);
    expect(sends.pending('task:a')).toEqual([]);
    expect(sends.pending('task:b')).toHaveLength(1);
  });

  it('with an expiry clock, drops each message when its TTL passes, re-arming for the next and stopping on close', async () => {
    const clock = new SimulatedClock();
    const now = () => clock.now();
    const reported: ChannelSendEntry[][] = [];
    const sends = new ChannelSends({
      log: createMemoryRecordLog<ChannelSendEntry>({ now }),
      now,
      logger: silentLogger(),
      policy: { ttlMs: 1_000 },
      expiry: { clock, onExpired: (expired) => reported.push(expired) },
    });
    const old = await sends.add('task:a', 'old', {})!.stored;
    clock.increment(600);
    const acked = await sends.add('task:b', 'acked', {})!.stored;
    const young = await sends.add('task:b', 'young', {})!.stored;
    clock.increment(399);
    expect(reported).toEqual([]);
    clock.increment(1);
    expect(reported).toEqual([[{ channel: 'task:a', event: 'old', payload: {}, id: old.id }]]);
    // Acknowledged in time: only the other one of its moment expires.
    sends.ack('task:b', acked.seq);
    clock.increment(600);
    expect(reported).toEqual([[{ channel: 'task:a', event: 'old', payload: {}, id: old.id }], [expect.objectContaining({ id: young.id })]]);
    expect(sends.depth).toBe(0);

    // Closed: what is left stays in the log, and no timer reports it.
    await sends.add('task:c', 'kept', {})!.stored;
    sends.close();
    clock.increment(10_000);
    expect(reported).toHaveLength(2);
    expect(sends.pending('task:c')).toHaveLength(1);
  });

  it('keeps what was not acknowledged across a restart when its log is a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-channel-sends-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'channels.log');
    const open = async () => new ChannelSends({ log: await openRecordLog<ChannelSendEntry>(path), now: Date.now, logger: silentLogger() });
    const log = await openRecordLog<ChannelSendEntry>(path);
    const before = new ChannelSends({ log, now: Date.now, logger: silentLogger() });
    const acked = await before.add('task:a', 'x', { n: 1 })!.stored;
    const kept = await before.add('task:a', 'x', { n: 2 })!.stored;
    before.ack('task:a', acked.seq);
    await log.close();
    const after = await open();
    expect(after.pending('task:a')).toEqual([kept]);
  });

  it('arms the expiry timer for messages its log already held (an earlier run left them)', async () => {
    const clock = new SimulatedClock();
    const now = () => clock.now();
    const log = createMemoryRecordLog<ChannelSendEntry>({ now });
    const left = await new ChannelSends({ log, now, logger: silentLogger() }).add('task:a', 'x', {})!.stored;
    clock.increment(400);
    const reported: ChannelSendEntry[][] = [];
    const restarted = new ChannelSends({
      log,
      now,
      logger: silentLogger(),
      policy: { ttlMs: 1_000 },
      expiry: { clock, onExpired: (expired) => reported.push(expired) },
    });
    clock.increment(599);
    expect(reported).toEqual([]);
    clock.increment(1);
    expect(reported).toEqual([[expect.objectContaining({ id: left.id })]]);
    expect(restarted.depth).toBe(0);
  });
});
