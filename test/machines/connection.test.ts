import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BackoffPolicy } from '../../src/machines/backoff.ts';
import { backoffCeiling } from '../../src/util/backoff.ts';
import { CloseCode } from '../../src/protocol/close-codes.ts';
import { connectionFixture, HUB_URL } from '../support/connection-fixture.ts';
import { SimulatedClock } from 'xstate';
import { createSocketActor } from '../../src/actors/socket.ts';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import type { SocketAdapter } from '../../src/adapters/socket.ts';
import { connectionMachine, statusOf } from '../../src/machines/connection.ts';
import { flush, underParent } from '../support/harness.ts';

describe('connection machine', () => {
  it('goes standalone without a URL and opens nothing', async () => {
    const f = connectionFixture({ url: null });
    f.child.send({ type: 'connect' });
    await f.advance(600_000);
    expect(f.name()).toBe('standalone');
    expect(f.ctx().reason).toBe('no_url');
    expect(f.net.peers).toHaveLength(0);
    expect(f.errors()).toEqual([]);
  });

  it('opens, sends connect with the device identity, and is connected on connect_ack', async () => {
    const f = connectionFixture();
    expect(f.name()).toBe('initialized');
    f.child.send({ type: 'connect' });
    expect(f.name()).toBe('connecting');
    await flush();
    const peer = f.net.latest()!;
    expect(peer.url).toBe(HUB_URL);
    peer.accept();
    const connect = JSON.parse(peer.received[0]!);
    expect(connect).toMatchObject({ v: 1, type: 'connect', device_id: 'dev-1', tenant_id: 'local', token: 'secret-token' });
    f.ack();
    expect(f.name()).toBe('connected');
    expect(f.ctx().reason).toBe('handshake_complete');
    expect(f.ctx().session?.sessionId).toBe('s-1');
    expect(f.sent('connection.up')).toHaveLength(1);
  });

  it('forwards inbound frames to the parent and answers bad frames with an error frame', async () => {
    const f = connectionFixture();
    await f.connectFully();
    const peer = f.net.latest()!;
    peer.send(f.frame({ type: 'heartbeat_ack', seq: 3, server_time: 1 }));
    expect(f.sent('connection.frame').map((e) => e.message.type)).toEqual(['heartbeat_ack']);
    peer.send('{not json');
    const reply = JSON.parse(peer.received.at(-1)!);
    expect(reply).toMatchObject({ type: 'error', code: 'not_json' });
    expect(f.name()).toBe('connected');
  });

  it('retries at once after a drop from connected when the drop window is 0', async () => {
    const f = connectionFixture({ policy: { dropSpreadMs: 0 } });
    await f.connectFully();
    await f.advance(3_000);
    f.net.latest()!.drop();
    expect(f.ctx().retryInMs).toBe(0);
    expect(f.ctx().reason).toBe('connection_lost');
    expect(f.sent('connection.down')).toHaveLength(1);
    await f.advance(0);
    expect(f.name()).toBe('connecting');
    expect(f.net.peers).toHaveLength(2);
  });

  it('spreads the first retry after a drop uniformly over the drop window, so a crashed hub is not hit by its whole fleet at once', async () => {
    const delays: number[] = [];
    for (let seed = 0; seed < 40; seed++) {
      const f = connectionFixture({ seed });
      await f.connectFully();
      f.net.latest()!.drop();
      expect(f.ctx().reason).toBe('connection_lost');
      delays.push(f.ctx().retryInMs!);
      await f.advance(f.ctx().retryInMs!);
      expect(f.name()).toBe('connecting');
    }
    for (const delay of delays) expect(delay).toBeLessThan(BackoffPolicy.parse({}).dropSpreadMs);
    // Spread, not bunched: some early and some late in the 5 s window.
    expect(delays.some((d) => d < 1_000) && delays.some((d) => d > 4_000)).toBe(true);
  });

  it('gives a hub that accepts and drops at once only every other retry immediately, with growing backoff between', async () => {
    const f = connectionFixture({ policy: { suspendAfterMs: 1e9, dropSpreadMs: 0 } });
    f.net.onConnection = (peer) => {
      peer.accept();
      f.ack(peer);
      queueMicrotask(() => peer.drop());
    };
    f.child.send({ type: 'connect' });
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      await flush();
      expect(f.name()).toBe('disconnected');
      delays.push(f.ctx().retryInMs!);
      await f.advance(f.ctx().retryInMs!);
    }
    const immediates = delays.filter((d, i) => d === 0 && i % 2 === 0).length;
    expect(immediates).toBe(6); // every drop after a backoff retry is retried at once…
    for (let i = 1; i < delays.length; i += 2) {
      // …and every other one waits a jittered backoff whose ceiling doubles (attempt = i + 1).
      expect(delays[i]).toBeLessThanOrEqual(Math.min(30_000, 1_000 * 2 ** i));
    }
    expect(delays.filter((d) => d > 0).length).toBeGreaterThanOrEqual(5);
  });

  it('resets the attempt count only after stable uptime', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.net.latest()!.drop(); // the first retry after a drop, attempt 2
    await f.advance(f.ctx().retryInMs!);
    f.net.latest()!.accept();
    expect(f.ctx().lastClose).toEqual({ code: 1006, reason: '' });
    f.ack();
    expect(f.ctx().lastClose).toBeUndefined(); // a close before this session says nothing about it
    await f.advance(29_999);
    expect(f.ctx().attempt).toBe(2);
    expect(f.ctx().lastRetryImmediate).toBe(true);
    await f.advance(1);
    expect(f.ctx().attempt).toBe(0);
    expect(f.ctx().lastRetryImmediate).toBe(false);
  });

  it('reconnects when the host asks again while closing', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.child.send({ type: 'disconnect' });
    f.child.send({ type: 'connect' });
    await flush();
    expect(f.name()).toBe('connecting');
    f.net.latest()!.accept();
    f.ack();
    expect(f.name()).toBe('connected');
    expect(f.net.peers).toHaveLength(2);
    expect(f.net.maxLive).toBe(1);
    await f.advance(600_000);
    expect(f.name()).toBe('connected');
  });

  it('says connection_refused when the socket closes before it opened', async () => {
    const f = connectionFixture();
    f.net.onConnection = (peer) => peer.refuse();
    f.child.send({ type: 'connect' });
    await flush();
    expect(f.name()).toBe('disconnected');
    expect(f.ctx().reason).toBe('connection_refused');
    expect(f.ctx().lastClose).toEqual({ code: 1006, reason: '' });
  });

  it('keeps every retry delay within its full-jitter ceiling and under the cap', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        // Suspension pinned off: this checks the backoff sequence alone.
        const f = connectionFixture({ seed, policy: { suspendAfterMs: 1e9 } });
        const policy = f.ctx().policy;
        f.net.onConnection = (peer) => peer.refuse();
        f.child.send({ type: 'connect' });
        for (let attempt = 1; attempt <= 12; attempt++) {
          await flush();
          expect(f.name()).toBe('disconnected');
          const delay = f.ctx().retryInMs!;
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(backoffCeiling(policy, attempt));
          expect(delay).toBeLessThanOrEqual(policy.capMs);
          expect(f.ctx().reason).toBe('connection_refused');
          await f.advance(delay);
        }
        expect(f.net.maxLive).toBe(1);
      }),
      { numRuns: 50 },
    );
  });

  it('does not storm a hub that is down: bounded attempts, suspended after 120 s, then 15-30 s apart', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), async (seed) => {
        const f = connectionFixture({ seed });
        f.net.onConnection = (peer) => peer.refuse();
        f.child.send({ type: 'connect' });
        const attemptsAt: number[] = [];
        let seen = 0;
        while (f.clock.now() < 3_600_000) {
          await flush();
          while (seen < f.net.peers.length) {
            attemptsAt.push(f.clock.now());
            seen++;
          }
          await f.advance(Math.max(1, f.ctx().retryInMs ?? 1));
        }
        const early = attemptsAt.filter((t) => t < 120_000).length;
        expect(early).toBeLessThanOrEqual(30);
        const late = attemptsAt.filter((t) => t >= 150_000);
        for (let i = 1; i < late.length; i++) expect(late[i]! - late[i - 1]!).toBeGreaterThanOrEqual(15_000);
        expect(attemptsAt.length).toBeLessThanOrEqual(30 + 3_600_000 / 15_000);
        expect(f.name()).toBe('suspended');
        expect(f.ctx().reason).toBe('outage_too_long');
      }),
      { numRuns: 20 },
    );
  });

  it('leaves suspended and forgets the outage once connected', async () => {
    const f = connectionFixture();
    f.net.onConnection = (peer) => peer.refuse();
    f.child.send({ type: 'connect' });
    while (f.name() !== 'suspended') await f.advance(Math.max(1, f.ctx().retryInMs ?? 1));
    expect(f.clock.now()).toBeGreaterThanOrEqual(120_000);
    f.net.onConnection = undefined;
    await f.advance(f.ctx().retryInMs!);
    f.net.latest()!.accept();
    f.ack();
    expect(f.name()).toBe('connected');
    expect(f.ctx().outageSince).toBeUndefined();
  });

  it('times out an attempt that never opens or is never acknowledged', async () => {
    const f = connectionFixture();
    f.child.send({ type: 'connect' });
    await f.advance(9_999);
    expect(f.name()).toBe('connecting');
    await f.advance(1);
    expect(f.name()).toBe('disconnected');
    expect(f.ctx().reason).toBe('connect_timeout');
    expect(f.net.live()).toBe(0);
    await f.advance(f.ctx().retryInMs!);
    f.net.latest()!.accept(); // opened, but the hub never sends connect_ack
    await f.advance(10_000);
    expect(f.ctx().reason).toBe('connect_timeout');
    expect(f.net.live()).toBe(0);
  });

  it('spreads reconnects over the restart window when the hub restarts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.constantFrom(CloseCode.serverRestart, CloseCode.tryAgainLater, CloseCode.goingAway),
        async (seed, code) => {
          const f = connectionFixture({ seed });
          await f.connectFully();
          await f.advance(60_000);
          f.net.latest()!.close(code, 'restart');
          expect(f.name()).toBe('disconnected');
          expect(f.ctx().retryInMs).toBeGreaterThanOrEqual(0);
          expect(f.ctx().retryInMs).toBeLessThan(f.ctx().policy.restartSpreadMs);
        },
      ),
      { numRuns: 30 },
    );
  });

  it.each([
    [CloseCode.replaced, 'replaced'],
    [CloseCode.revoked, 'revoked'],
    [CloseCode.unsupportedVersion, 'unsupported_version'],
  ])('fails on close %i (%s) and tries again only when the host asks', async (code, reason) => {
    const f = connectionFixture();
    await f.connectFully();
    f.net.latest()!.close(code, reason);
    expect(f.name()).toBe('failed');
    expect(f.ctx().reason).toBe(reason);
    await f.advance(600_000);
    expect(f.net.peers).toHaveLength(1);
    f.child.send({ type: 'connect' });
    await flush();
    expect(f.name()).toBe('connecting');
    expect(f.net.peers).toHaveLength(2);
  });

  it.each([
    [CloseCode.authFailed, 'auth_failed'],
    [CloseCode.tokenExpired, 'token_expired'],
  ])('on close %i (%s) reports the token rejected and retries with a fresh token', async (code, reason) => {
    const f = connectionFixture();
    await f.connectFully();
    f.net.latest()!.close(code, reason);
    expect(f.name()).toBe('disconnected');
    expect(f.ctx().reason).toBe(reason);
    expect(f.sent('connection.token_rejected')).toHaveLength(1);
    await f.advance(f.ctx().retryInMs!);
    // Each attempt asks for a token before it opens a socket, and confirms it once open:
    // two for the first attempt, and the second attempt's first.
    expect(f.sent('connection.token_needed')).toHaveLength(3);
    expect(f.net.peers).toHaveLength(2);
  });

  it("fails with the auth machine's reason when no token can be had", async () => {
    const clock = new SimulatedClock();
    const logic = connectionMachine.provide({ actors: { socket: createSocketActor({ adapter: createMemoryNetwork().adapter }) } });
    const h = underParent(logic, connectionFixture().input, clock, (event) =>
      event.type === 'connection.token_needed' ? { type: 'token.unavailable', reason: 'credentials_rejected' } : undefined,
    );
    h.child.send({ type: 'connect' });
    expect(h.state()).toBe('failed');
    expect(h.context().reason).toBe('credentials_rejected');
  });

  it('sends a refreshed token in-band on the open session, with an id its answer can refer to', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.child.send({ type: 'token.refreshed', token: 'fresh-token' });
    const sent = JSON.parse(f.net.latest()!.received.at(-1)!);
    expect(sent).toMatchObject({ type: 'auth_refresh', id: 'auth_refresh:1', token: 'fresh-token' });
    expect(f.name()).toBe('connected');
    expect(f.net.peers).toHaveLength(1);
  });

  it('confirms the token once the socket is open, and connects with the confirmed one', async () => {
    const clock = new SimulatedClock();
    const net = createMemoryNetwork();
    let n = 0;
    const logic = connectionMachine.provide({ actors: { socket: createSocketActor({ adapter: net.adapter }) } });
    const h = underParent(logic, connectionFixture().input, clock, (event) =>
      event.type === 'connection.token_needed' ? { type: 'token.granted', token: `token-${++n}` } : undefined,
    );
    h.child.send({ type: 'connect' });
    await flush();
    net.latest()!.accept(); // opening took a while: the token is asked for again
    expect(n).toBe(2);
    expect(JSON.parse(net.latest()!.received[0]!)).toMatchObject({ type: 'connect', token: 'token-2' });
  });

  it('sends a token refreshed during the handshake in-band as soon as the session is up', async () => {
    const f = connectionFixture();
    f.child.send({ type: 'connect' });
    await flush();
    const peer = f.net.latest()!;
    peer.accept();
    f.child.send({ type: 'token.refreshed', token: 'newer-token' }); // before connect_ack
    expect(peer.received.map((r) => JSON.parse(r).type)).toEqual(['connect']);
    f.ack();
    expect(JSON.parse(peer.received.at(-1)!)).toMatchObject({ type: 'auth_refresh', token: 'newer-token' });
  });

  it('ends a live session when the auth machine gives up for good', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.child.send({ type: 'token.unavailable', reason: 'static_token_expired' });
    expect(f.name()).toBe('failed');
    expect(f.ctx().reason).toBe('static_token_expired');
    await flush();
    expect(f.net.live()).toBe(0);
  });

  it('keeps the hub error message from a refused handshake', async () => {
    const f = connectionFixture();
    f.child.send({ type: 'connect' });
    await flush();
    const peer = f.net.latest()!;
    peer.accept();
    peer.send(f.frame({ type: 'error', code: 'auth_failed', message: 'token refused' }));
    peer.close(CloseCode.authFailed, 'auth failed');
    expect(f.name()).toBe('disconnected');
    expect(f.ctx().hubError).toBe('token refused');
  });

  it('closes gracefully on disconnect: close 1000, then closed', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.child.send({ type: 'disconnect' });
    expect(f.name()).toBe('closing');
    await flush();
    expect(f.name()).toBe('closed');
    expect(f.ctx().reason).toBe('host_stop');
    expect(f.net.latest()!.closedWith).toEqual({ code: 1000, reason: 'client stop', by: 'client' });
    await f.advance(600_000);
    expect(f.net.peers).toHaveLength(1);
  });

  it('fails with invalid_url when the adapter refuses to open, instead of crashing or retrying', async () => {
    const clock = new SimulatedClock();
    const throwing: SocketAdapter = {
      open: () => {
        throw new SyntaxError('The URL contains a fragment identifier');
      },
    };
    const logic = connectionMachine.provide({ actors: { socket: createSocketActor({ adapter: throwing }) } });
    const h = underParent(logic, connectionFixture().input, clock, (event) =>
      event.type === 'connection.token_needed' ? { type: 'token.granted', token: 't' } : undefined,
    );
    h.child.send({ type: 'connect' });
    expect(h.state()).toBe('failed');
    expect(h.context().reason).toBe('invalid_url');
    clock.increment(600_000);
    expect(h.state()).toBe('failed');
    expect(h.errors()).toEqual([]);
  });

  it('forgets its session when it closes or re-authorizes: no stale session id, no immediate retry as if it had dropped from connected', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.child.send({ type: 'tenant.changed', tenantId: 'org-b' });
    expect(f.ctx().session).toBeUndefined();
    await flush();
    f.net.latest()!.refuse(); // the attempt for the new tenant fails before it connected
    expect(f.name()).toBe('disconnected');
    expect(f.ctx().retryInMs).toBeGreaterThan(0);
    await f.advance(f.ctx().retryInMs!);
    f.net.latest()!.accept();
    f.ack();
    f.child.send({ type: 'disconnect' });
    expect(f.name()).toBe('closing');
    expect(f.ctx().session).toBeUndefined();
  });

  it('ignores events from an older socket (generation guard)', async () => {
    const f = connectionFixture();
    await f.connectFully();
    f.net.latest()!.drop();
    await f.advance(f.ctx().retryInMs!);
    expect(f.ctx().generation).toBe(2);
    const stale = f.codec.decode(
      f.frame({
        type: 'connect_ack',
        session_id: 'old',
        heartbeat_interval_ms: 25_000,
        heartbeat_timeout_ms: 10_000,
        server_time: 0,
        max_frame_bytes: 1024,
      }),
    );
    if (!stale.ok) throw stale.error;
    f.child.send({ type: 'socket.open', generation: 1 });
    f.child.send({ type: 'socket.frame', generation: 1, message: stale.value });
    f.child.send({ type: 'socket.closed', generation: 1, code: CloseCode.replaced, reason: '' });
    expect(f.name()).toBe('connecting');
    expect(f.state()).toEqual({ online: { connecting: 'opening' } });
  });
});

describe('connection statusOf', () => {
  it('reports a standalone connection with no attempt and no retry', async () => {
    const f = connectionFixture({ url: null });
    f.child.send({ type: 'connect' });
    await f.advance(1_000);
    expect(statusOf(f.child.getSnapshot())).toEqual({ state: 'standalone', reason: 'no_url', attempt: 1 });
  });

  it('reports the session while connected, and the pending retry and last close once it drops', async () => {
    const f = connectionFixture();
    await f.connectFully();
    expect(statusOf(f.child.getSnapshot())).toEqual({
      state: 'connected',
      reason: 'handshake_complete',
      attempt: 1,
      sessionId: 's-1',
      maxFrameBytes: 1 << 20,
    });
    f.net.latest()!.close(CloseCode.tryAgainLater, 'busy');
    await f.advance(0);
    const dropped = statusOf(f.child.getSnapshot());
    expect(dropped).toMatchObject({ state: 'disconnected', lastClose: { code: CloseCode.tryAgainLater } });
    expect(dropped.sessionId).toBeUndefined();
    expect(dropped.retryInMs).toBe(f.ctx().retryInMs);
  });
});
