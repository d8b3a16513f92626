import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registerExtension } from '../../src/channel-clients/extension.ts';
import { joinTask } from '../../src/channel-clients/task.ts';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import type { ConnectorEvent } from '../../src/connector/connector.ts';
import { CONNECTOR_VERSION } from '../../src/connector/version.ts';
import { deferred, settle } from '../support/execution-fixture.ts';
import { connected, startConnector as startLoopbackConnector, startHub, until } from '../support/loopback.ts';

/** Loopback connectors of these tests belong to tenant `acme`. */
const startConnector = (url: string, config: Partial<ConnectorConfigInput> = {}) =>
  startLoopbackConnector(url, { tenantId: 'acme', seed: 5, ...config });
const notices = (events: ConnectorEvent[], kind: string) => events.filter((e) => e.type === 'channel' && e.kind === kind);

describe('channels between a connector and the real hub', () => {
  it('relays task commands to validated handlers and task events back; invalid payloads reach no handler', async () => {
    const { hub, url } = await startHub();
    hub.openTask('acme', 'tsk-1');
    const { connector, events } = startConnector(url);
    const approvals: unknown[] = [];
    const task = joinTask(connector, 'tsk-1', { onApprove: (command) => approvals.push(command) });
    const fromDevice: unknown[] = [];
    hub.on('channel_message', (info, message) => fromDevice.push([info.device_id, message.event, message.payload]));
    connector.start();
    await until(() => task.channel.state === 'joined');
    expect(hub.channelMembers('acme', 'task:tsk-1')).toEqual(['dev-1']);
    hub.publish('acme', 'task:tsk-1', 'approve', { step_id: 'stp-7', approved_by: 'usr-42' });
    hub.publish('acme', 'task:tsk-1', 'approve', { step_id: 42 });
    await until(() => notices(events, 'invalid').length === 1);
    expect(approvals).toEqual([{ step_id: 'stp-7', approved_by: 'usr-42' }]);
    task.emit('step_completed', { step_id: 'stp-7' });
    await until(() => fromDevice.length === 1);
    expect(fromDevice).toEqual([['dev-1', 'step_completed', { step_id: 'stp-7' }]]);
  });

  it('registers an extension instance, takes only the commands addressed to it, and unregisters on stop', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    const started: unknown[] = [];
    const extension = registerExtension(connector, clock, {
      instanceId: 'vscode-1',
      app: { name: 'vscode', version: '1.96.0' },
      platform: 'linux',
      taskState: () => ({ running: null }),
      onCommand: { start_task: (command) => started.push(command) },
    });
    connector.start();
    await until(() => hub.instances('acme').length === 1);
    expect(hub.instances('acme')[0]).toMatchObject({
      instance_id: 'vscode-1',
      device_id: 'dev-1',
      app: { name: 'vscode' },
      platform: 'linux',
    });
    hub.publish('acme', 'extension', 'start_task', { instance_id: 'other-window', task_id: 't-0' });
    hub.publish('acme', 'extension', 'start_task', { instance_id: 'vscode-1', task_id: 't-1', prompt: 'fix the build' });
    await until(() => started.length === 1);
    await settle();
    expect(started).toEqual([{ instance_id: 'vscode-1', task_id: 't-1', prompt: 'fix the build' }]);
    // The heartbeat keeps it listed past the hub's 60 s TTL.
    const seen = hub.instances('acme')[0]!.last_seen;
    clock.increment(20_000);
    await until(() => hub.instances('acme')[0]!.last_seen > seen);
    extension.stop();
    await until(() => hub.instances('acme').length === 0);
  });

  it('rejoins after a hub restart and recovers every message published while the device was away, once each', async () => {
    const { hub, url } = await startHub();
    hub.openTask('acme', 'tsk-1');
    const { connector, clock, events } = startConnector(url);
    const messages: string[] = [];
    joinTask(connector, 'tsk-1', { onMessage: ({ text }) => messages.push(text) });
    const registrations: number[] = [];
    hub.on('channel_message', (_info, message) => message.event === 'register' && registrations.push(1));
    const resumed: string[] = [];
    registerExtension(connector, clock, {
      instanceId: 'vscode-1',
      app: { name: 'vscode', version: '1' },
      platform: 'linux',
      onCommand: { resume_task: ({ task_id }) => resumed.push(task_id) },
    });
    connector.start();
    await until(() => notices(events, 'joined').length === 2);
    hub.publish('acme', 'task:tsk-1', 'message', { text: 'before' });
    await until(() => messages.length === 1);
    // The hub restarts; the device comes back only when its clock lets it (the restart spread).
    await hub.restart({ downMs: 0 });
    await until(() => connector.status.connection.state !== 'connected');
    hub.publish('acme', 'task:tsk-1', 'message', { text: 'while away 1' });
    hub.publish('acme', 'task:tsk-1', 'message', { text: 'while away 2' });
    hub.publish('acme', 'extension', 'resume_task', { instance_id: 'vscode-1', task_id: 'tsk-1' });
    await until(
      () => notices(events, 'joined').length === 4,
      () => clock.increment(500),
    );
    await until(() => messages.length === 3);
    await settle();
    expect(messages).toEqual(['before', 'while away 1', 'while away 2']);
    expect(notices(events, 'joined').slice(2)).toEqual(
      expect.arrayContaining([expect.objectContaining({ channel: 'task:tsk-1', recovery: 'recovered' })]),
    );
    // The extension registered again after the reconnect, and got the command sent while it was away.
    await until(() => registrations.length === 2 && resumed.length === 1);
    expect(resumed).toEqual(['tsk-1']);
  });

  it('says a rejoin could not recover when more was published than the replay window holds', async () => {
    const { hub, url } = await startHub({ channels: { replayWindow: 2 } });
    hub.openTask('acme', 'tsk-1');
    const { connector, clock, events } = startConnector(url);
    const messages: string[] = [];
    joinTask(connector, 'tsk-1', { onMessage: ({ text }) => messages.push(text) });
    connector.start();
    await until(() => notices(events, 'joined').length === 1);
    await hub.restart({ downMs: 0 });
    await until(() => connector.status.connection.state !== 'connected');
    for (const text of ['a', 'b', 'c']) hub.publish('acme', 'task:tsk-1', 'message', { text });
    await until(
      () => notices(events, 'joined').length === 2,
      () => clock.increment(500),
    );
    expect(notices(events, 'joined')[1]).toMatchObject({ channel: 'task:tsk-1', recovery: 'lost' });
    expect(messages).toEqual([]);
  });

  it('refuses a device of another tenant, which retries with backoff and is told each time', async () => {
    const { hub, url } = await startHub();
    hub.openTask('globex', 'tsk-g');
    const { connector, clock, events } = startConnector(url);
    const task = joinTask(connector, 'tsk-g', {});
    connector.start();
    await until(() => notices(events, 'refused').length === 1);
    expect(notices(events, 'refused')[0]).toMatchObject({ channel: 'task:tsk-g', reason: 'unauthorized' });
    expect(task.channel.state).toBe('errored');
    await until(
      () => notices(events, 'refused').length === 2,
      () => clock.increment(1_000),
    );
    expect(hub.channelMembers('globex', 'task:tsk-g')).toEqual([]);
    // Unknown channels are refused as such.
    joinTask(connector, 'nope', {});
    await until(() =>
      notices(events, 'refused').some(
        (n) => n.type === 'channel' && n.channel === 'task:nope' && n.kind === 'refused' && n.reason === 'unknown_channel',
      ),
    );
  });

  it('runs each handler once after a task was left and joined again, and after an extension registered again', async () => {
    const { hub, url } = await startHub();
    hub.openTask('acme', 't1');
    const { connector, clock } = startConnector(url);
    const got: string[] = [];
    const first = joinTask(connector, 't1', { onMessage: ({ text }) => got.push(`first:${text}`) });
    const started: string[] = [];
    const options = {
      instanceId: 'vscode-1',
      app: { name: 'vscode', version: '1' },
      platform: 'linux',
      onCommand: { start_task: ({ task_id }: { task_id: string }) => void started.push(task_id) },
    };
    const extension = registerExtension(connector, clock, options);
    connector.start();
    await until(() => first.channel.state === 'joined' && hub.instances('acme').length === 1);
    first.leave();
    extension.stop();
    await until(() => first.channel.state === 'left' && extension.channel.state === 'left' && hub.instances('acme').length === 0);
    const second = joinTask(connector, 't1', { onMessage: ({ text }) => got.push(`second:${text}`) });
    const again = registerExtension(connector, clock, options);
    await until(() => second.channel.state === 'joined' && again.channel.state === 'joined' && hub.instances('acme').length === 1);
    hub.publish('acme', 'task:t1', 'message', { text: 'hi' });
    hub.publish('acme', 'extension', 'start_task', { instance_id: 'vscode-1', task_id: 'tsk-1' });
    await until(() => got.length >= 1 && started.length >= 1);
    await settle();
    expect(got).toEqual(['second:hi']);
    expect(started).toEqual(['tsk-1']);
  });

  it('buffers sends made before the channel is joined and sends them in order once it is', async () => {
    const { hub, url } = await startHub();
    hub.openTask('acme', 'tsk-1');
    const { connector } = startConnector(url);
    const task = joinTask(connector, 'tsk-1', {});
    for (const n of [1, 2, 3]) task.emit('tick', { n });
    const got: number[] = [];
    hub.on('channel_message', (_info, message) => got.push(message.payload.n as number));
    connector.start();
    await until(() => got.length === 3);
    expect(got).toEqual([1, 2, 3]);
  });
});

describe('messaging and capability reload between a connector and the real hub', () => {
  it('answers a chat message, a duplicate, a workspace without a handler, and a throwing handler', async () => {
    const { hub, url } = await startHub();
    const { connector } = startConnector(url);
    let calls = 0;
    connector.onMessaging('ws-1', (event) => ({ text: `echo: ${event.message.text} (${++calls})` }));
    connector.onMessaging('ws-bad', () => {
      throw new Error('the agent crashed');
    });
    connector.start();
    await connected(connector);
    const event = {
      channel: 'line',
      event_type: 'message',
      message: { text: 'hi' },
      user_id: 'U1',
      workspace_id: 'ws-1',
      reply_token: 'rt-1',
    };
    const first = hub.sendMessagingEvent('dev-1', { ...event, request_id: 'm-1' });
    expect(await first.reply).toEqual({ status: 'completed', text: 'echo: hi (1)' });
    const again = hub.sendMessagingEvent('dev-1', { ...event, request_id: 'm-1' });
    expect(await again.reply).toMatchObject({ status: 'duplicate' });
    expect(calls).toBe(1);
    expect(await hub.sendMessagingEvent('dev-1', { ...event, request_id: 'm-2', workspace_id: 'ws-none' }).reply).toMatchObject({
      status: 'ignored',
      reason: expect.stringContaining('ws-none'),
    });
    expect(await hub.sendMessagingEvent('dev-1', { ...event, request_id: 'm-3', workspace_id: 'ws-bad' }).reply).toEqual({
      status: 'error',
      error: 'the agent crashed',
    });
    // The runtime kept going.
    expect((await hub.sendMessagingEvent('dev-1', { ...event, request_id: 'm-4' }).reply).status).toBe('completed');
  });

  it('gets a reply produced while the socket was down to the hub after the reconnect', async () => {
    const { hub, url } = await startHub();
    const { connector, clock } = startConnector(url);
    const gate = deferred();
    const asked = deferred();
    connector.onMessaging('*', async () => {
      asked.resolve();
      await gate.promise;
      return { text: 'done thinking' };
    });
    connector.start();
    const first = await connected(connector);
    const { reply } = hub.sendMessagingEvent('dev-1', {
      channel: 'line',
      event_type: 'message',
      message: { text: 'think' },
      user_id: 'U1',
    });
    await asked.promise;
    hub.faults.dropDevice('dev-1');
    await until(
      () => connector.status.connection.sessionId !== first.connection.sessionId || connector.status.connection.state !== 'connected',
    );
    gate.resolve(); // answered while away: the reply waits in the outbox
    let answer: unknown;
    void reply.then((value) => (answer = value));
    // The connector's retry timer runs on its simulated clock.
    await until(
      () => answer !== undefined,
      () => clock.increment(100),
    );
    expect(answer).toEqual({ status: 'completed', text: 'done thinking' });
  });

  it('takes a chat message over REST and answers it there with wait=1', async () => {
    const { hub, url } = await startHub({ adminToken: 'admin' });
    const { connector } = startConnector(url);
    connector.onMessaging('*', (event) => ({ text: event.message.text.toUpperCase() }));
    connector.start();
    await connected(connector);
    const port = new URL(url).port;
    const response = await fetch(`http://127.0.0.1:${port}/v1/devices/dev-1/messages?wait=1`, {
      method: 'POST',
      headers: { authorization: 'Bearer admin', 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: 'm-rest', channel: 'whatsapp', event_type: 'message', message: { text: 'hello' }, user_id: 'U9' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ request_id: 'm-rest', reply: { status: 'completed', text: 'HELLO' } });
    void hub;
  });

  it('reloads capabilities through the host hook and reports success and failure; connect describes the runtime', async () => {
    const { hub, url } = await startHub();
    const { connector } = startConnector(url);
    connector.handle('tool', 'web_search', { input: z.object({}), run: () => null });
    const loaded: string[][] = [];
    connector.onCapabilityReload((packs) => {
      if (packs.includes('broken@1')) throw new Error('pack broken@1 failed to load');
      loaded.push(packs);
    });
    connector.channel('extension');
    connector.start();
    await connected(connector);
    expect(hub.devices()[0]!.runtime).toEqual({
      version: CONNECTOR_VERSION,
      job_types: ['tool', 'playbook', 'chain'],
      tools: ['web_search'],
      playbooks: [],
      channels: ['extension'],
    });
    expect(await hub.reloadCapabilities('dev-1', ['marketing@2'])).toEqual({ ok: true });
    expect(loaded).toEqual([['marketing@2']]);
    expect(await hub.reloadCapabilities('dev-1', ['broken@1'])).toEqual({ ok: false, error: 'pack broken@1 failed to load' });
  });
});
