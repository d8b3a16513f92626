import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Connector, ConnectorEvent } from '../../src/connector/connector.ts';
import { openConnectorStore } from '../../src/connector/remote-work.ts';
import { connected, startConnector as startLoopbackConnector, startHub, until } from '../support/loopback.ts';

/** The host's settings: what a tool runner might keep. */
const schema = z.object({
  theme: z.enum(['light', 'dark']).default('light'),
  max_tasks: z.number().int().min(1).max(10).default(3),
  editor: z
    .object({ font: z.number().int().min(8).max(32) })
    .partial()
    .default({}),
  features: z.record(z.string(), z.boolean()).default({}),
});
type Settings = z.output<typeof schema>;

let dir: string;
beforeEach(async ({ onTestFinished }) => {
  const made = (dir = await mkdtemp(join(tmpdir(), 'cloudtether-settings-')));
  // onTestFinished runs in reverse order: this goes after the connectors have stopped writing
  // (an afterEach ran before them, and removing a folder still written to failed with ENOTEMPTY).
  onTestFinished(() => rm(made, { recursive: true, force: true }));
});

const startConnector = async (url: string, options: { storeDir?: string } = {}) => {
  const store = options.storeDir === undefined ? undefined : await openConnectorStore(options.storeDir);
  const started = startLoopbackConnector(url, { tenantId: 'acme', seed: 5 }, undefined, { settings: { schema }, ...(store && { store }) });
  return { ...started, connector: started.connector as Connector<Settings> };
};
const synced = (connector: Connector<Settings>) => until(() => connector.status.settings.state === 'synced');
const settingsEvents = (events: ConnectorEvent[], kind: string) =>
  events.filter((e) => e.type === 'settings' && e.kind === kind) as Array<Extract<ConnectorEvent, { type: 'settings' }>>;
/** Takes the device offline (the host disconnects) and back. */
const offline = async (connector: Connector<Settings>) => {
  connector.actor.send({ type: 'disconnect' });
  await connector.waitFor((s) => s.connection.state === 'closed');
};
const online = async (connector: Connector<Settings>) => {
  connector.actor.send({ type: 'connect' });
  await connected(connector);
  await synced(connector);
};

describe('settings between a connector and the real hub', () => {
  it('applies org changes live, and a change made while the device was offline once it reconnects', async () => {
    const { hub, url } = await startHub();
    const { connector } = await startConnector(url);
    const values: Settings[] = [];
    connector.settings.value$.subscribe((value) => values.push(value));
    connector.start();
    await connected(connector);
    await synced(connector);
    expect(connector.settings.value).toEqual({ theme: 'light', max_tasks: 3, editor: {}, features: {} });

    await hub.settings.patchOrg('acme', { theme: 'dark', features: { task_sharing: true } });
    await until(() => connector.settings.value.theme === 'dark');
    expect(connector.settings.flag('task_sharing')).toBe(true);
    expect(connector.settings.flag('unknown')).toBe(false);

    await offline(connector);
    await hub.settings.patchOrg('acme', { max_tasks: 7 });
    expect(connector.settings.value.max_tasks).toBe(3);
    await online(connector);
    expect(connector.settings.value).toMatchObject({ theme: 'dark', max_tasks: 7 });
    expect(connector.settings.documents).toMatchObject({ orgVersion: 2, userVersion: 0, pendingEdits: 0 });
    // Each change once, in order: no patch applied twice, none out of order.
    expect(values.map((v) => [v.theme, v.max_tasks])).toEqual([
      ['light', 3],
      ['dark', 3],
      ['dark', 7],
    ]);
    // The hub sees what the device applied: no drift.
    await until(() => hub.settings.reported('acme', 'dev-1').reported?.org_version === 2);
    expect(hub.settings.reported('acme', 'dev-1')).toMatchObject({ drift: false, reported: { settings: { theme: 'dark', max_tasks: 7 } } });
  });

  it('refuses a remote document that fails the schema whole, keeps the last good one, and tells the host and the hub', async () => {
    const { hub, url } = await startHub();
    const { connector, events } = await startConnector(url);
    connector.start();
    await synced(connector);
    await hub.settings.patchOrg('acme', { max_tasks: 5, theme: 'dark' });
    await until(() => connector.settings.value.max_tasks === 5);

    await hub.settings.patchOrg('acme', { max_tasks: 'lots', theme: 'light' });
    await until(() => settingsEvents(events, 'rejected').length === 1);
    expect(settingsEvents(events, 'rejected')[0]).toMatchObject({ document: 'org', version: 2, issues: [{ path: ['max_tasks'] }] });
    // Refused whole: the valid key of the same change is not taken either.
    expect(connector.settings.value).toMatchObject({ max_tasks: 5, theme: 'dark' });
    await until(() => hub.settings.reported('acme', 'dev-1').reported?.rejected !== undefined);
    expect(hub.settings.reported('acme', 'dev-1')).toMatchObject({
      drift: true,
      reported: { org_version: 1, rejected: { document: 'org', version: 2 } },
    });

    // The operator fixes it: the next version comes after a refused one, so the device fetches it whole.
    await hub.settings.patchOrg('acme', { max_tasks: 6 });
    await until(() => connector.settings.value.max_tasks === 6);
    expect(connector.settings.value.theme).toBe('light');
    await until(() => hub.settings.reported('acme', 'dev-1').drift === false);
  });

  it('merges edits of different keys, and surfaces a conflict when the same key changed on both sides', async () => {
    const { hub, url } = await startHub();
    const { connector, events } = await startConnector(url);
    connector.start();
    await synced(connector);
    const first = await connector.settings.update({ theme: 'dark', editor: { font: 12 } });
    expect(first).toMatchObject({ status: 'accepted', conflicts: [], version: 1 });
    expect(hub.settings.user('acme', { deviceId: 'dev-1' })).toMatchObject({
      version: 1,
      settings: { theme: 'dark', editor: { font: 12 } },
    });

    await offline(connector);
    // Offline edits apply locally at once and wait for the hub.
    const merged = connector.settings.update({ theme: 'light' });
    const contested = connector.settings.update({ editor: { font: 14 }, max_tasks: 4 });
    expect(connector.settings.value).toMatchObject({ theme: 'light', editor: { font: 14 }, max_tasks: 4 });
    expect(connector.settings.documents.pendingEdits).toBe(2);
    // Meanwhile the same user document changes elsewhere: another key, and the edited `editor` and `max_tasks`.
    await hub.settings.patchUser('acme', { deviceId: 'dev-1' }, { features: { beta: true }, editor: { font: 20 }, max_tasks: 2 });
    await online(connector);

    expect(await merged).toMatchObject({ status: 'accepted', conflicts: [] });
    const outcome = await contested;
    expect(outcome.status).toBe('conflict');
    expect(outcome.conflicts.map((c) => [c.key, c.base, c.local, c.remote]).sort()).toEqual([
      ['editor', { font: 12 }, { font: 14 }, { font: 20 }],
      ['max_tasks', undefined, 4, 2],
    ]);
    expect(settingsEvents(events, 'conflict')).toHaveLength(1);
    // The hub's values stayed for the contested keys; the other edit merged.
    expect(hub.settings.user('acme', { deviceId: 'dev-1' }).settings).toEqual({
      theme: 'light',
      editor: { font: 20 },
      max_tasks: 2,
      features: { beta: true },
    });
    expect(connector.settings.value).toMatchObject({ theme: 'light', editor: { font: 20 }, max_tasks: 2, features: { beta: true } });
  });

  it('starts from its cache without the cloud, keeps offline edits across a restart, and sends them when the hub is back', async () => {
    const hubSettings = join(dir, 'hub', 'settings.json');
    const storeDir = join(dir, 'device');
    const first = await startHub({ settingsPath: hubSettings });
    const { connector } = await startConnector(first.url, { storeDir });
    connector.start();
    await synced(connector);
    await first.hub.settings.patchOrg('acme', { theme: 'dark', max_tasks: 8 });
    await until(() => connector.settings.value.max_tasks === 8);
    await connector.stop();
    await first.hub.close();
    expect((await stat(join(storeDir, 'settings.json'))).mode & 0o777).toBe(0o600);

    // No hub: the cache is in force, and an edit waits in it.
    const again = await startConnector(first.url, { storeDir });
    again.connector.start();
    await again.connector.settings.ready;
    expect(again.connector.settings.value).toMatchObject({ theme: 'dark', max_tasks: 8 });
    const edit = again.connector.settings.update({ editor: { font: 16 } });
    await until(() => again.connector.settings.documents.pendingEdits === 1);
    await again.connector.stop();
    expect(await edit).toEqual({ status: 'deferred', conflicts: [] });

    // The hub comes back (same port, same settings file); a third start sends the kept edit.
    const back = await startHub({ settingsPath: hubSettings }, first.port);
    const third = await startConnector(back.url, { storeDir });
    third.connector.start();
    await third.connector.settings.ready;
    expect(third.connector.settings.documents.pendingEdits).toBe(1);
    await until(() => third.connector.settings.documents.pendingEdits === 0 && third.connector.status.settings.state === 'synced');
    expect(back.hub.settings.user('acme', { deviceId: 'dev-1' }).settings).toEqual({ editor: { font: 16 } });
    expect(third.connector.settings.value).toMatchObject({ theme: 'dark', max_tasks: 8, editor: { font: 16 } });
  });
});
