import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { openConnectorStore } from '../../src/connector/remote-work.ts';

describe('openConnectorStore', () => {
  it('opens its logs in the directory it is given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-store-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const store = await openConnectorStore(dir);
    await Promise.all([store.outbox.close(), store.journal.close(), store.telemetry?.close(), store.channels?.close()]);
    expect((await readdir(dir)).sort()).toEqual(['channels.log', 'executions.log', 'outbox.log', 'telemetry.log']);
  });

  it.each([
    [undefined, 'got undefined'],
    ['', 'got an empty string'],
  ])('refuses %j with a TypeError that says what it needs, before touching the disk', async (dir, got) => {
    await expect(openConnectorStore(dir as unknown as string)).rejects.toThrow(
      new TypeError(`openConnectorStore(dir): dir must be the store's directory path, ${got}`),
    );
  });
});
