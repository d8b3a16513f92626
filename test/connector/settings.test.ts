import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { z } from 'zod';
import { createMemoryStorage } from '../../src/adapters/storage.ts';
import { connectorConfigFromEnv } from '../../src/connector/config.ts';
import { createConnector } from '../../src/connector/connector.ts';
import { createMemoryStore } from '../../src/connector/remote-work.ts';
import { SETTINGS_CACHE, SettingsError } from '../../src/connector/settings.ts';
import { captureLogs } from '../support/log-capture.ts';

const schema = z.object({
  theme: z.enum(['light', 'dark']).default('light'),
  max_tasks: z.number().int().min(1).max(10).default(3),
  features: z.record(z.string(), z.boolean()).default({}),
});
const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudtether-static-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A standalone connector (no hub) over a memory store the test can look into. */
function standalone(files = createMemoryStorage()) {
  const clock = new SimulatedClock();
  const store = { ...createMemoryStore(() => clock.now()), files };
  const connector = createConnector({ deviceId: 'dev-1', seed: 1 }, { clock, store, settings: { schema, defaults: { max_tasks: 2 } } });
  return { connector, files };
}

describe('static settings', () => {
  it('come from base64 JSON in the environment, validated, read-only, never synced', async () => {
    const config = connectorConfigFromEnv({
      CLOUD_WS_URL: 'ws://127.0.0.1:9/v1/connect',
      CLOUD_TOKEN: 't',
      CLOUDTETHER_STATIC_SETTINGS: base64({ theme: 'dark', features: { beta: true } }),
    });
    const connector = createConnector(config, { settings: { schema }, clock: new SimulatedClock() });
    expect(connector.settings.mode).toBe('static');
    await connector.settings.ready;
    expect(connector.settings.value).toEqual({ theme: 'dark', max_tasks: 3, features: { beta: true } });
    expect(connector.settings.flag('beta')).toBe(true);
    expect(() => connector.settings.update({ theme: 'light' })).toThrow(expect.objectContaining({ code: 'read_only' }));
    connector.start();
    // No settings actor: nothing to subscribe, fetch or poll.
    expect(connector.status.settings.state).toBe('stopped');
    expect(connector.actor.system.get('settings')).toBeUndefined();
    connector.actor.send({ type: 'disconnect' });
  });

  it('come from a JSON file', async () => {
    const file = join(dir, 'settings.json');
    await writeFile(file, JSON.stringify({ max_tasks: 9 }));
    const connector = createConnector({ staticSettingsFile: file }, { settings: { schema } });
    expect(connector.settings.value).toMatchObject({ max_tasks: 9 });
  });

  it('that are unreadable or fail the schema stop the connector from being created, naming the problem but not the content', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ staticSettings: Buffer.from('{not json').toString('base64') }, /staticSettings \(base64 JSON\) is not JSON/],
      [{ staticSettings: base64([1, 2]) }, /is not a JSON object/],
      [{ staticSettingsFile: join(dir, 'missing.json') }, /cannot read .*missing\.json \(ENOENT\)/],
      [{ staticSettings: base64({ max_tasks: 99, secret_key: 'sk-live-123' }) }, /the static settings fail the schema: max_tasks/],
    ];
    for (const [config, message] of cases) {
      let error: unknown;
      try {
        createConnector(config, { settings: { schema } });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(SettingsError);
      expect((error as SettingsError).code).toBe('invalid_static');
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('sk-live-123');
    }
  });

  it('cannot be given as a value and a file at once', () => {
    expect(() => createConnector({ staticSettings: base64({}), staticSettingsFile: '/x.json' })).toThrow(
      /staticSettingsFile: give static settings as a value or as a file, not both/,
    );
  });
});

describe('settings of a standalone connector', () => {
  it('take edits locally, keep them in the cache, and refuse edits that fail the schema or come before the cache is read', async () => {
    const { connector, files } = standalone();
    expect(connector.settings.mode).toBe('standalone');
    expect(() => connector.settings.update({ theme: 'dark' })).toThrow(expect.objectContaining({ code: 'not_ready' }));
    connector.start();
    await connector.settings.ready;
    expect(connector.settings.value).toEqual({ theme: 'light', max_tasks: 2, features: {} });
    expect(() => connector.settings.update({ max_tasks: 0 })).toThrow(
      expect.objectContaining({ code: 'invalid', issues: [expect.objectContaining({ path: ['max_tasks'] })] }),
    );
    const edit = connector.settings.update({ theme: 'dark', features: { beta: true } });
    await Promise.resolve();
    expect(connector.settings.value).toMatchObject({ theme: 'dark', features: { beta: true } });
    expect(connector.settings.flag('beta')).toBe(true);
    await connector.stop();
    // No hub to take it: it waits in the cache, for the next start.
    expect(await edit).toEqual({ status: 'deferred', conflicts: [] });
    const cached = JSON.parse(files.entries.get(SETTINGS_CACHE)!.toString('utf8'));
    expect(cached.state.pending).toEqual([expect.objectContaining({ patch: { theme: 'dark', features: { beta: true } } })]);

    const again = standalone(files).connector;
    again.start();
    await again.settings.ready;
    expect(again.settings.value).toMatchObject({ theme: 'dark', features: { beta: true } });
    expect(again.settings.documents.pendingEdits).toBe(1);
    await again.stop();
  });

  it('start without a cache that is corrupt or was written for another schema, keeping its edits', async () => {
    const logs = captureLogs();
    const files = createMemoryStorage({ [SETTINGS_CACHE]: '{"format":1,"state":' });
    const clock = new SimulatedClock();
    const corrupt = createConnector(
      { seed: 1 },
      { clock, logger: logs.logger, store: { ...createMemoryStore(() => 0), files }, settings: { schema } },
    );
    corrupt.start();
    await corrupt.settings.ready;
    expect(corrupt.settings.value).toEqual({ theme: 'light', max_tasks: 3, features: {} });
    expect(logs.parsed().some((l) => l.msg === 'settings cache unreadable: starting without it')).toBe(true);
    await corrupt.stop();

    const stale = {
      format: 1,
      state: {
        epoch: 'e1',
        org: { version: 4, settings: { max_tasks: 40 } },
        user: { version: 0, settings: {} },
        refused: {},
        pending: [{ id: 'e', patch: { theme: 'dark' }, base: {}, conflicts: [] }],
      },
    };
    const older = createMemoryStorage({ [SETTINGS_CACHE]: JSON.stringify(stale) });
    const connector = createConnector({ seed: 1 }, { clock, store: { ...createMemoryStore(() => 0), files: older }, settings: { schema } });
    connector.start();
    await connector.settings.ready;
    expect(connector.settings.value).toMatchObject({ theme: 'dark', max_tasks: 3 });
    expect(connector.settings.documents).toMatchObject({ orgVersion: 0, pendingEdits: 1 });
    await connector.stop();
  });
});
