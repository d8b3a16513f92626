import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { heartbeatMachine, statusOf } from '../../src/machines/heartbeat.ts';
import { underParent } from '../support/harness.ts';

/** A heartbeat machine whose wall clock can jump ahead of its timers (a sleeping laptop). */
function heartbeatFixture() {
  const clock = new SimulatedClock();
  let slept = 0;
  const h = underParent(heartbeatMachine, { now: () => clock.now() + slept }, clock);
  return {
    ...h,
    ctx: () => h.child.getSnapshot().context as ReturnType<typeof heartbeatMachine.getInitialSnapshot>['context'],
    /** The wall clock moves on while timers do not (Linux suspends CLOCK_MONOTONIC in sleep). */
    sleep: (ms: number) => void (slept += ms),
  };
}

describe('heartbeat machine', () => {
  it('sends a heartbeat each interval and measures the round trip of its ack', () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 1_000, timeoutMs: 500 });
    f.clock.increment(999);
    expect(f.sent('heartbeat.send')).toHaveLength(0);
    f.clock.increment(1);
    expect(f.sent('heartbeat.send')).toEqual([{ type: 'heartbeat.send', seq: 1 }]);
    expect(f.state()).toEqual({ active: { beat: 'awaiting', wake: 'watching' } });
    f.clock.increment(40);
    f.child.send({ type: 'activity', ackSeq: 1 });
    expect(f.state()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
    expect(f.ctx().rttMs).toBe(40);
    f.clock.increment(1_000);
    expect(f.sent('heartbeat.send').map((e) => e.seq)).toEqual([1, 2]);
    expect(f.sent('heartbeat.dead')).toHaveLength(0);
  });

  it('never measures a negative round trip when the wall clock is set back between a heartbeat and its ack', () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 1_000, timeoutMs: 500 });
    f.clock.increment(1_000);
    f.sleep(-60_000); // NTP steps the wall clock back a minute; timers do not move
    f.clock.increment(40);
    f.child.send({ type: 'activity', ackSeq: 1 });
    expect(f.ctx().rttMs).toBe(0);
    expect(f.state()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
  });

  it('accepts any inbound frame as proof of life', () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 1_000, timeoutMs: 500 });
    for (let i = 0; i < 10; i++) {
      f.clock.increment(1_000);
      f.child.send({ type: 'activity' });
    }
    expect(f.sent('heartbeat.dead')).toHaveLength(0);
    expect(f.ctx().rttMs).toBeUndefined();
  });

  it('finds a dead link within interval + timeout of its death', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000, max: 60_000 }),
        fc.integer({ min: 500, max: 30_000 }),
        fc.integer({ min: 0, max: 300_000 }),
        (intervalMs, timeoutMs, diesAt) => {
          const f = heartbeatFixture();
          f.child.send({ type: 'link.up', intervalMs, timeoutMs });
          // The hub answers every heartbeat until `diesAt`, then nothing.
          let deadAt: number | undefined;
          while (f.clock.now() < diesAt + 2 * (intervalMs + timeoutMs) && deadAt === undefined) {
            f.clock.increment(100);
            const last = f.sent('heartbeat.send').at(-1);
            if (last && f.clock.now() <= diesAt && f.ctx().seq === last.seq && f.state() !== 'dead') {
              f.child.send({ type: 'activity', ackSeq: last.seq });
            }
            if (f.sent('heartbeat.dead').length > 0) deadAt = f.clock.now();
          }
          expect(deadAt).toBeDefined();
          // SimulatedClock starts a timer armed during an increment at the increment's end, so
          // each of the two timers involved can be seen up to one 100 ms step late.
          expect(deadAt! - diesAt).toBeLessThanOrEqual(intervalMs + timeoutMs + 200);
          expect(f.sent('heartbeat.dead')[0]).toEqual({ type: 'heartbeat.dead', reason: 'heartbeat_timeout' });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('reports a sleeping machine within a second of waking, not at the next heartbeat', () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 25_000, timeoutMs: 10_000 });
    f.clock.increment(10_000);
    f.sleep(3_600_000); // the lid was closed for an hour; timers did not move
    f.clock.increment(999);
    expect(f.sent('heartbeat.dead')).toHaveLength(0);
    f.clock.increment(1);
    expect(f.sent('heartbeat.dead')).toEqual([{ type: 'heartbeat.dead', reason: 'sleep_detected' }]);
    expect(f.sent('heartbeat.send')).toHaveLength(0);
    expect(f.state()).toBe('dead');
  });

  it("reports a process paused past the hub's tolerance while awaiting an ack", () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 25_000, timeoutMs: 10_000 });
    f.clock.increment(25_000);
    expect(f.state()).toEqual({ active: { beat: 'awaiting', wake: 'watching' } });
    f.sleep(40_000); // SIGSTOP, a debugger, a blocked event loop
    f.clock.increment(1_000);
    expect(f.sent('heartbeat.dead')).toEqual([{ type: 'heartbeat.dead', reason: 'sleep_detected' }]);
  });

  it('does not mistake a short pause for sleep', () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 25_000, timeoutMs: 10_000 });
    f.sleep(9_000); // a GC pause or a busy event loop, shorter than the hub's tolerance
    f.clock.increment(25_000);
    expect(f.sent('heartbeat.dead')).toHaveLength(0);
    expect(f.sent('heartbeat.send')).toHaveLength(1);
  });

  it('stops on link.down and starts over on the next link.up', () => {
    const f = heartbeatFixture();
    f.child.send({ type: 'link.up', intervalMs: 1_000, timeoutMs: 500 });
    f.clock.increment(1_000);
    f.child.send({ type: 'link.down' });
    f.clock.increment(60_000);
    expect(f.sent('heartbeat.dead')).toHaveLength(0);
    expect(f.state()).toBe('idle');
    f.child.send({ type: 'link.up', intervalMs: 2_000, timeoutMs: 500 });
    f.clock.increment(2_000);
    f.clock.increment(500);
    expect(f.sent('heartbeat.dead')).toHaveLength(1);
    f.child.send({ type: 'link.up', intervalMs: 2_000, timeoutMs: 500 });
    expect(f.state()).toEqual({ active: { beat: 'waiting', wake: 'watching' } });
  });
});

describe('heartbeat statusOf', () => {
  it('names the beat and reports the round trip once an ack came back', () => {
    const f = heartbeatFixture();
    expect(statusOf(f.child.getSnapshot())).toEqual({ state: 'idle', reason: f.ctx().reason });
    f.child.send({ type: 'link.up', intervalMs: 1_000, timeoutMs: 500 });
    expect(statusOf(f.child.getSnapshot())).toEqual({ state: 'waiting', reason: 'link_up' });
    f.clock.increment(1_000);
    expect(statusOf(f.child.getSnapshot()).state).toBe('awaiting');
    f.clock.increment(40);
    f.child.send({ type: 'activity', ackSeq: 1 });
    expect(statusOf(f.child.getSnapshot())).toEqual({ state: 'waiting', reason: 'acknowledged', rttMs: 40 });
  });
});
