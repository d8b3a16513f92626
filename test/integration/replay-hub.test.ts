import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { createMemoryStorage } from '../../src/adapters/storage.ts';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { createConnector, type Connector, type ConnectorOptions } from '../../src/connector/connector.ts';
import { openConnectorStore } from '../../src/connector/remote-work.ts';
import { SettingsError } from '../../src/connector/settings.ts';
import { createHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { parseSession, SESSION_VERSION, type SessionEntry } from '../../src/recording/format.ts';
import { replaySession, type ReplayOptions } from '../../src/replay/replay.ts';
import { createSecretStore } from '../../src/storage/secret-store.ts';
import { settle } from '../support/execution-fixture.ts';
import { hubClockOf, until } from '../support/loopback.ts';

/*
 * Every kind of host input, recorded against the real hub over loopback (hub and connector on
 * one SimulatedClock: nothing sleeps), then replayed: the replay makes the same calls at the
 * same moments and must do and answer what the recorded connector did (docs/recording.md).
 */

const SECRET = 'enrollment-secret-for-replay-tests';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function startHub(clock: SimulatedClock, options: Partial<HubOptions> = {}): Promise<{ hub: Hub; url: string }> {
  const hub = createHub({
    heartbeatIntervalMs: 600_000,
    heartbeatTimeoutMs: 600_000,
    tokens: { lifetimeMs: 600_000, deviceCredentials: [{ tenant_id: 'acme', secret: SECRET }] },
    clock: hubClockOf(clock),
    ...options,
  });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => hub.close());
  return { hub, url };
}

function sessionFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'ct-replay-hub-')), 'session.jsonl');
}

/** A recording connector on the shared clock. */
function recordingConnector(
  url: string,
  clock: SimulatedClock,
  file: string,
  config: Partial<ConnectorConfigInput> = {},
  options: Partial<ConnectorOptions> = {},
): Connector {
  return createConnector(
    { url, credential: SECRET, deviceId: 'dev-1', tenantId: 'acme', seed: 11, ...config },
    { clock, record: { file }, ...options },
  );
}

/** Stops a connector on the simulated clock (past its close timeout) once its work is quiet. */
async function stop(connector: Connector, clock: SimulatedClock): Promise<void> {
  await settle(20);
  const stopped = connector.stop();
  clock.increment(5_000);
  await stopped;
}

function entries(file: string): SessionEntry[] {
  return parseSession(readFileSync(file, 'utf8')).entries.map(({ entry }) => entry);
}

const hostCalls = (file: string) => entries(file).flatMap((e) => (e.kind === 'host' ? [e.call] : []));
const answers = (file: string) => entries(file).filter((e): e is Extract<SessionEntry, { kind: 'answer' }> => e.kind === 'answer');

async function expectReplays(file: string, options: ReplayOptions = {}): Promise<void> {
  const result = await replaySession(file, options);
  expect(result.divergence?.message).toBeUndefined();
  expect(result).toMatchObject({ ok: true, replayed: result.entries });
}

describe('host inputs recorded against the real hub replay', () => {
  it('API client calls and their answers', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { url } = await startHub(clock);
    const file = sessionFile();
    const connector = recordingConnector(url, clock, file);
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    expect(await connector.api.whoami()).toMatchObject({ device_id: 'dev-1' });
    await connector.api.limits();
    await stop(connector, clock);

    expect(hostCalls(file)).toEqual(['start', 'api.whoami', 'api.limits', 'stop']);
    expect(answers(file).map((a) => a.call)).toEqual(['api.whoami', 'api.limits']);
    expect(answers(file)[0]!.value).toMatchObject({ device_id: 'dev-1' });
    await expectReplays(file);

    // A changed answer is caught: the replayed whoami no longer says what the recording did.
    const altered = readFileSync(file, 'utf8').replace(/("kind":"answer".*"device_id":)"dev-1"/, '$1"dev-2"');
    writeFileSync(file, altered);
    const result = await replaySession(file);
    expect(result.divergence).toMatchObject({ kind: 'different_output', path: 'value.device_id' });
  });

  it('channel joins, sends and leaves after start', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock);
    hub.openTask('acme', 'tsk_1');
    const file = sessionFile();
    const connector = recordingConnector(url, clock, file);
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    const channel = connector.channel('task:tsk_1', { workspaceId: 'ws_1' });
    await until(() => channel.state === 'joined');
    channel.send('progress', { done: 1, of: 2 });
    await settle(20);
    channel.leave();
    await until(() => channel.state === 'left');
    await stop(connector, clock);

    expect(hostCalls(file)).toEqual(['start', 'channel.join', 'channel.send', 'channel.leave', 'stop']);
    const frames = entries(file).flatMap((e) => (e.kind === 'socket.send' ? [(e.frame as { type: string }).type] : []));
    expect(frames).toEqual(expect.arrayContaining(['channel_join', 'channel_leave']));
    await expectReplays(file);
  });

  it('settings updates and telemetry consent', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { url } = await startHub(clock);
    const file = sessionFile();
    const schema = z.object({ theme: z.enum(['light', 'dark']).default('light') });
    const connector = recordingConnector(url, clock, file, {}, { settings: { schema } });
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected' && s.settings.state === 'synced');
    const edit = await connector.settings.update({ theme: 'dark' });
    expect(edit.status).toBe('accepted');
    connector.telemetry.setConsent(true);
    connector.telemetry.track('app.opened', { screen: 'home' });
    connector.telemetry.setConsent(false);
    await stop(connector, clock);

    expect(hostCalls(file)).toEqual([
      'start',
      'settings.update',
      'telemetry.setConsent',
      'telemetry.track',
      'telemetry.setConsent',
      'stop',
    ]);
    await expectReplays(file, { connector: { settings: { schema } } });
  });

  it('settings updates with their answers: accepted, in conflict, refused at once', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock);
    const file = sessionFile();
    const schema = z.object({
      theme: z.enum(['light', 'dark']).default('light'),
      max_tasks: z.number().int().min(1).max(10).default(3),
    });
    const connector = recordingConnector(url, clock, file, {}, { settings: { schema } });
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected' && s.settings.state === 'synced');
    expect(await connector.settings.update({ theme: 'dark' })).toMatchObject({ status: 'accepted', version: 1 });
    expect(() => connector.settings.update({ theme: 'blue' })).toThrow(SettingsError);
    // The hub drops the socket; while the device is away the key it edits changes at the hub too.
    hub.faults.dropDevice('dev-1');
    await connector.waitFor((s) => s.connection.state !== 'connected');
    const contested = connector.settings.update({ max_tasks: 4 });
    await hub.settings.patchUser('acme', { deviceId: 'dev-1' }, { max_tasks: 2 });
    await until(
      () => connector.status.connection.state === 'connected',
      () => clock.increment(500),
    );
    const outcome = await contested;
    expect(outcome).toMatchObject({ status: 'conflict', conflicts: [{ key: 'max_tasks', local: 4, remote: 2 }] });
    await stop(connector, clock);

    expect(hostCalls(file)).toEqual(['start', 'settings.update', 'settings.update', 'settings.update', 'stop']);
    const recorded = answers(file).filter((a) => a.call === 'settings.update');
    expect(recorded.map((a) => (a.value as { status?: string } | undefined)?.status ?? a.error)).toEqual([
      'accepted',
      expect.stringContaining('the edit would make the settings invalid'),
      'conflict',
    ]);
    await expectReplays(file, { connector: { settings: { schema } } });

    // The same session as a version 2 file (no answers to settings.update) replays as before.
    const asVersion2 = sessionFile();
    const [head, ...lines] = readFileSync(file, 'utf8').split('\n');
    writeFileSync(
      asVersion2,
      [
        head!.replace(/"version":\d+/, '"version":2'),
        ...lines.filter((line) => !line.includes('"kind":"answer","call":"settings.update"')),
      ].join('\n'),
    );
    expect(parseSession(readFileSync(asVersion2, 'utf8')).entries.some(({ entry }) => entry.kind === 'answer')).toBe(false);
    await expectReplays(asVersion2, { connector: { settings: { schema } } });

    // An outcome the code no longer gives is caught where the answer was recorded.
    writeFileSync(file, readFileSync(file, 'utf8').replace('"status":"conflict"', '"status":"accepted"'));
    const result = await replaySession(file, { connector: { settings: { schema } } });
    expect(result.divergence).toMatchObject({ kind: 'different_output', path: 'value.status', expected: { kind: 'answer' } });
  });

  it('host calls made before start are recorded in order and replay without a setup', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock);
    hub.openTask('acme', 'tsk_1');
    const file = sessionFile();
    const connector = recordingConnector(url, clock, file);
    // The host sets itself up: a channel joined from the start, consent given, an edit too early.
    const channel = connector.channel('task:tsk_1', { workspaceId: 'ws_1' });
    connector.telemetry.setConsent(true);
    expect(() => connector.settings.update({ theme: 'dark' })).toThrow(SettingsError);
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    await until(() => channel.state === 'joined');
    channel.send('progress', { done: 1, of: 2 });
    connector.telemetry.track('app.opened', { screen: 'home' });
    await settle(20);
    await stop(connector, clock);

    expect(hostCalls(file)).toEqual([
      'channel.join',
      'telemetry.setConsent',
      'settings.update',
      'start',
      'channel.send',
      'telemetry.track',
      'stop',
    ]);
    expect(answers(file)[0]).toMatchObject({ call: 'settings.update', error: expect.stringContaining('not loaded yet') });
    const frames = entries(file).flatMap((e) => (e.kind === 'socket.send' ? [(e.frame as { type: string }).type] : []));
    expect(frames).toContain('channel_join');
    await expectReplays(file);

    // The join is the file's now, not a setup's: without its line the replay never joins.
    const withoutJoin = sessionFile();
    writeFileSync(
      withoutJoin,
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => !line.includes('"call":"channel.join"'))
        .join('\n'),
    );
    const result = await replaySession(withoutJoin);
    expect(result.divergence).toMatchObject({ kind: 'different_output', path: 'frame.runtime.channels' });
  });

  it('login, switchOrganization and logout', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock, {
      tokens: {
        lifetimeMs: 60_000,
        pollIntervalS: 1,
        users: [
          {
            user_id: 'alice',
            organizations: [
              { id: 'org-a', name: 'Acme', role: 'owner' },
              { id: 'org-b', name: 'Globex', role: 'member' },
            ],
          },
        ],
      },
    });
    const file = sessionFile();
    const connector = createConnector(
      { url, userLogin: true, deviceId: 'laptop-1', seed: 4 },
      { clock, secrets: createSecretStore(createMemoryStorage()), record: { file } },
    );
    connector.start();
    await connector.waitFor((s) => s.auth.state === 'logged_out');
    const prompt = await connector.login();
    await hub.approveDeviceLogin(prompt.userCode, { userId: 'alice' });
    clock.increment(1_000);
    const first = await connector.waitFor((s) => s.connection.state === 'connected');
    await connector.switchOrganization('org-b');
    await connector.waitFor((s) => s.connection.state === 'connected' && s.connection.sessionId !== first.connection.sessionId);
    await connector.logout();
    await connector.waitFor((s) => s.auth.state === 'logged_out' && s.connection.state !== 'connected');
    await stop(connector, clock);

    expect(hostCalls(file)).toEqual(['start', 'login', 'switchOrganization', 'logout', 'stop']);
    // The user code is a secret: the answer keeps the prompt's shape, not the code.
    expect(readFileSync(file, 'utf8')).not.toContain(prompt.userCode);
    await expectReplays(file);
  });

  it('a session recorded over a persisted store replays from what the store held', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock);
    const dir = mkdtempSync(join(tmpdir(), 'ct-replay-store-'));
    const setup = (connector: Connector) =>
      connector.handle('tool', 'forever', {
        input: z.object({}),
        run: (_input, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))),
      });

    // A first run accepts a request and stops while it runs: the journal keeps it.
    const first = createConnector(
      { url, credential: SECRET, deviceId: 'dev-1', tenantId: 'acme', seed: 11 },
      { clock, store: await openConnectorStore(dir) },
    );
    setup(first);
    first.start();
    await first.waitFor((s) => s.connection.state === 'connected');
    void hub.execute('dev-1', { request_id: 'r-1', job_type: 'tool', tool_name: 'forever', inputs: {} });
    await until(() => first.executions.active.length === 1);
    await stop(first, clock);

    // The recorded run starts over that store and reports the request interrupted.
    const file = sessionFile();
    const second = recordingConnector(url, clock, file, {}, { store: await openConnectorStore(dir) });
    setup(second);
    second.start();
    await second.waitFor((s) => s.connection.state === 'connected');
    await until(() => second.executions.outboxDepth === 0);
    await stop(second, clock);

    const session = parseSession(readFileSync(file, 'utf8'));
    expect(session.header.version).toBe(SESSION_VERSION);
    expect(session.header.store?.journal.records).toHaveLength(1);
    const sent = session.entries.flatMap(({ entry }) =>
      entry.kind === 'socket.send' ? [entry.frame as { type: string; event_type?: string; request_id?: string }] : [],
    );
    expect(sent).toContainEqual(expect.objectContaining({ type: 'execution_event', request_id: 'r-1', event_type: 'failed' }));
    await expectReplays(file, { setup });

    // Without the store in the header the replay starts empty and never reports r-1.
    const { store: _store, ...header } = session.header;
    const emptied = sessionFile();
    writeFileSync(emptied, [JSON.stringify(header), ...readFileSync(file, 'utf8').split('\n').slice(1)].join('\n'));
    expect((await replaySession(emptied, { setup })).ok).toBe(false);
  });
});

describe('recordings the host did not curate', () => {
  it('a store whose reliable channel messages were numbered before: the replay numbers on from the header', async () => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { hub, url } = await startHub(clock);
    hub.openTask('acme', 'tsk_1');
    let received = 0;
    hub.on('channel_message', () => received++);
    const dir = mkdtempSync(join(tmpdir(), 'ct-replay-channels-'));
    const sendTwice = async (connector: Connector) => {
      // Joined before start: the connect announces channel_ack, so the hub acknowledges them.
      const channel = connector.channel('task:tsk_1', { workspaceId: 'ws_1', reliable: true });
      connector.start();
      await until(() => channel.state === 'joined');
      channel.send('note', { n: 1 });
      channel.send('note', { n: 2 });
      const before = received;
      await until(() => received === before + 2 && channel.unacked === 0);
      await stop(connector, clock);
    };

    // A first run numbers two reliable messages in the store's channels log.
    await sendTwice(
      createConnector(
        { url, credential: SECRET, deviceId: 'dev-1', tenantId: 'acme', seed: 11 },
        { clock, store: await openConnectorStore(dir) },
      ),
    );
    // The recorded run over the same store numbers on: 3 and 4.
    const file = sessionFile();
    await sendTwice(recordingConnector(url, clock, file, {}, { store: await openConnectorStore(dir) }));

    const session = parseSession(readFileSync(file, 'utf8'));
    expect(session.header.store?.channels?.last_seq).toBe(2);
    const seqs = entries(file).flatMap((e) =>
      e.kind === 'socket.send' && (e.frame as { type: string }).type === 'channel_message' ? [(e.frame as { seq?: number }).seq] : [],
    );
    expect(seqs).toEqual([3, 4]);
    await expectReplays(file);
  });

  it.each([3_000, 5_000, 8_000])('a recording cut at its size limit (%i bytes) replays up to the cut', async (maxBytes) => {
    const clock = new SimulatedClock();
    clock.set(Date.now());
    const { url } = await startHub(clock);
    const file = sessionFile();
    const connector = createConnector(
      { url, credential: SECRET, deviceId: 'dev-1', tenantId: 'acme', seed: 11 },
      { clock, record: { file, maxBytes } },
    );
    connector.start();
    await connector.waitFor((s) => s.connection.state === 'connected');
    await connector.settings.ready;
    await stop(connector, clock);

    const recorded = entries(file);
    expect(recorded.at(-1)).toMatchObject({ kind: 'end', reason: 'size_limit' });
    await expectReplays(file);
  });
});
