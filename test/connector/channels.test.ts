import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createMemoryNetwork } from '../../src/adapters/memory-socket.ts';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { type ConnectorEvent, createConnector } from '../../src/connector/connector.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { flush } from '../support/harness.ts';
import { frame } from '../support/frames.ts';
import { until } from '../support/loopback.ts';

/** A connector on a memory network; the test plays the hub, answering `connect` with `capabilities` (or none: a v1 hub). */
function fixture(capabilities?: string[], config: Partial<ConnectorConfigInput> = {}) {
  const clock = new SimulatedClock();
  const net = createMemoryNetwork();
  net.onConnection = (peer) => {
    peer.accept();
    peer.send(
      frame({
        type: 'connect_ack',
        session_id: 'sess-1',
        heartbeat_interval_ms: 1_000,
        heartbeat_timeout_ms: 500,
        server_time: 0,
        max_frame_bytes: 1 << 20,
        ...(capabilities && { capabilities }),
      }),
    );
  };
  const connector = createConnector(
    { url: 'ws://hub.test/v1/connect', token: 'sekret-token-value', deviceId: 'dev-1', seed: 1, ...config },
    { socket: net.adapter, clock, logger: silentLogger() },
  );
  const events: ConnectorEvent[] = [];
  connector.events$.subscribe((e) => events.push(e));
  const sent = (type: string) =>
    (net.latest()?.received ?? []).map((f) => JSON.parse(f) as Record<string, unknown>).filter((f) => f.type === type);
  /** The hub accepts the join of `channel`. */
  const acceptJoin = async (channel: string) => {
    await until(() => sent('channel_join').length > 0);
    net.latest()!.send(frame({ type: 'channel_joined', channel, epoch: 'e1', offset: 0, recovery: 'none' }));
    await flush();
  };
  return { clock, net, connector, events, sent, acceptJoin };
}

describe('DeviceChannels reliable sends', () => {
  it('sends the v1 connect, without capabilities, while the host never asked for reliable messages', async () => {
    const f = fixture();
    f.connector.channel('task:t1');
    f.connector.start();
    await until(() => f.sent('connect').length === 1);
    expect(f.sent('connect')[0]).not.toHaveProperty('capabilities');
    await f.connector.stop();
  });

  it('announces channel_ack, sends with id and seq, forgets on channel_ack, and sends again what a rejoin finds unacknowledged', async () => {
    const f = fixture(['channel_ack']);
    const task = f.connector.channel('task:t1', { reliable: true });
    f.connector.start();
    await until(() => f.sent('connect').length === 1);
    expect(f.sent('connect')[0]).toMatchObject({ capabilities: ['channel_ack'] });
    await f.acceptJoin('task:t1');
    const id = task.send('approved', { step: 3 });
    await until(() => f.sent('channel_message').length === 1);
    expect(f.sent('channel_message')[0]).toMatchObject({ id, seq: 1, event: 'approved', payload: { step: 3 } });
    task.send('approved', { step: 4 });
    await until(() => f.sent('channel_message').length === 2);
    f.net.latest()!.send(frame({ type: 'channel_ack', channel: 'task:t1', seq: 1 }));
    await until(() => task.unacked === 1);
    // The link goes; the rejoin on the next session sends what is left, with the same id.
    f.net.latest()!.close(1006, '');
    await until(
      () => f.net.peers.length === 2,
      () => f.clock.increment(1_000),
    );
    await f.acceptJoin('task:t1');
    await until(() => f.sent('channel_message').length === 1);
    expect(f.sent('channel_message')[0]).toMatchObject({ seq: 2, payload: { step: 4 } });
    const stopped = f.connector.stop();
    f.clock.increment(5_000);
    await stopped;
  });

  it('against a hub that does not confirm channel_ack, sends reliable messages once, without seq, and keeps none', async () => {
    const f = fixture();
    const task = f.connector.channel('task:t1', { reliable: true });
    f.connector.start();
    await f.acceptJoin('task:t1');
    task.send('approved', { step: 3 });
    await until(() => f.sent('channel_message').length === 1);
    expect(f.sent('channel_message')[0]).not.toHaveProperty('seq');
    expect(task.unacked).toBe(0);
    const stopped = f.connector.stop();
    f.clock.increment(5_000);
    await stopped;
  });

  it('drops reliable messages when their TTL passes on the connector clock, though their channel is never joined again', async () => {
    const f = fixture(['channel_ack'], { reliableChannels: { ttlMs: 60_000, maxUnacked: 2 } });
    const expired = () => f.events.filter((e) => e.type === 'channel' && e.kind === 'expired');
    const task = f.connector.channel('task:t1', { reliable: true });
    f.connector.start();
    await f.acceptJoin('task:t1');
    const sent = task.send('approved', { step: 3 });
    await until(() => f.sent('channel_message').length === 1);
    // Left before the hub acknowledged; one more waits for a join that never comes.
    task.leave();
    const waiting = task.send('approved', { step: 4 });
    await flush();
    expect(task.unacked).toBe(2);
    // The configured cap: a third is refused at once.
    const refused = task.send('approved', { step: 5 });
    expect(expired()).toEqual([
      { type: 'channel', kind: 'expired', channel: 'task:t1', sends: [{ id: refused, event: 'approved' }], reason: 'unacked_full' },
    ]);

    f.clock.increment(59_999);
    await flush();
    expect(expired()).toHaveLength(1);
    f.clock.increment(1);
    await until(() => expired().length === 2);
    expect(expired()[1]).toEqual({
      type: 'channel',
      kind: 'expired',
      channel: 'task:t1',
      sends: [
        { id: sent, event: 'approved' },
        { id: waiting, event: 'approved' },
      ],
      reason: 'ttl',
    });
    expect(task.unacked).toBe(0);
    const stopped = f.connector.stop();
    f.clock.increment(5_000);
    await stopped;
  });
});
