import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openConnectorStore } from '../../src/connector/remote-work.ts';
import { settle } from '../support/execution-fixture.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { startConnector as startLoopbackConnector, startHub, until } from '../support/loopback.ts';

/*
 * Reliable channel messages (capability `channel_ack`) between a connector and the real hub
 * over loopback: what is written to a socket that is dead but not yet noticed still arrives,
 * once, after the reconnect.
 */

const startConnector = (url: string, options: Parameters<typeof startLoopbackConnector>[3] = {}) =>
  startLoopbackConnector(url, { tenantId: 'acme', seed: 5 }, undefined, options);

async function hubWithTask() {
  const { hub, url, port } = await startHub();
  hub.openTask('acme', 'tsk-1');
  const received: Array<[string, unknown]> = [];
  hub.on('channel_message', (_info, message) => received.push([message.event, message.payload]));
  return { hub, url, port, received };
}

async function proxyTo(port: number) {
  const proxy = await startFaultProxy({ target: { port } });
  onTestFinished(() => proxy.close());
  return proxy;
}

describe('reliable channel messages against the real hub', () => {
  it('a reliable message written to a dead socket arrives once after the reconnect; an unreliable one sent with it is lost', async () => {
    const { url, port, received } = await hubWithTask();
    const proxy = await proxyTo(port);
    const { connector, clock } = startConnector(proxy.url(new URL(url).pathname));
    const task = connector.channel('task:tsk-1');
    connector.start();
    await until(() => task.state === 'joined');
    // The link dies silently: what the device writes now goes nowhere, and nothing tells it yet.
    proxy.stall(true);
    task.send('approved', { step: 3 }, { reliable: true });
    task.send('note', { text: 'at most once' });
    await until(() => proxy.held > 0);
    expect(task.unacked).toBe(1);
    proxy.cut();
    proxy.stall(false);
    await until(
      () => received.length > 0 && task.state === 'joined' && task.unacked === 0,
      () => clock.increment(500),
    );
    await settle();
    expect(received).toEqual([['approved', { step: 3 }]]);
  });

  it('a resend of a message the hub already delivered is acknowledged and not delivered twice', async () => {
    const { hub, url, received } = await hubWithTask();
    const { connector, clock } = startConnector(url);
    const task = connector.channel('task:tsk-1', { reliable: true });
    connector.start();
    await until(() => task.state === 'joined');
    // The hub takes the message, but its ack never reaches the device.
    hub.faults.silence('dev-1', true);
    task.send('approved', { step: 3 });
    await until(() => received.length === 1);
    hub.faults.silence('dev-1', false);
    expect(task.unacked).toBe(1);
    hub.faults.dropDevice('dev-1');
    await until(
      () => task.state !== 'joined',
      () => clock.increment(100),
    );
    await until(
      () => task.state === 'joined' && task.unacked === 0,
      () => clock.increment(500),
    );
    await settle();
    expect(received).toEqual([['approved', { step: 3 }]]);
  });

  it('with a store, what was not acknowledged survives a restart of the connector and goes out when the channel is joined again', async () => {
    const { url, port, received } = await hubWithTask();
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-reliable-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const proxy = await proxyTo(port);
    const first = startConnector(proxy.url(new URL(url).pathname), { store: await openConnectorStore(dir) });
    const task = first.connector.channel('task:tsk-1', { reliable: true });
    first.connector.start();
    await until(() => task.state === 'joined');
    proxy.stall(true);
    task.send('approved', { step: 3 });
    await until(() => proxy.held > 0);
    proxy.cut();
    const stopped = first.connector.stop();
    first.clock.increment(5_000);
    await stopped;
    proxy.stall(false);
    expect(received).toEqual([]);

    const second = startConnector(url, { store: await openConnectorStore(dir) });
    const again = second.connector.channel('task:tsk-1', { reliable: true });
    second.connector.start();
    await until(() => received.length === 1 && again.unacked === 0);
    await settle();
    expect(received).toEqual([['approved', { step: 3 }]]);
  });
});
