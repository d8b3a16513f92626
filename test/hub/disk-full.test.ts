import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UsageLedger } from '../../src/hub/usage/usage-ledger.ts';
import { SettingsStore } from '../../src/hub/settings/settings-store.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';
import { smallDiskForTest } from '../support/small-disk-for-test.ts';

describe("the hub's own files on a full disk", () => {
  it('books no usage report it could not write, closes the session 1011 storage_failed so the device resends, and books each exactly once when space returns', async () => {
    const disk = await smallDiskForTest(512 * 1024);
    const ledgerPath = join(disk.dir, 'usage.log');
    const { hub, url } = await startHub({ usageLedgerPath: ledgerPath });
    const { connector, clock, events } = startConnector(url);
    connector.handle('tool', 'echo', { input: z.object({ n: z.number() }), run: ({ n }) => ({ n }) });
    connector.start();
    await connected(connector);
    await hub.execute('dev-1', { request_id: 'before', job_type: 'tool', tool_name: 'echo', inputs: { n: 0 } }).result;
    await until(() => hub.usage('local').totals.reports === 1);

    // More reports than fit in the slack of the ledger file's last page.
    await disk.fill();
    const ids = Array.from({ length: 60 }, (_, i) => `full-${i}`);
    const results = ids.map((id, n) => hub.execute('dev-1', { request_id: id, job_type: 'tool', tool_name: 'echo', inputs: { n } }).result);
    // The ledger refuses: the session is closed so that the device resends from the first report not booked.
    await until(() => events.some((e) => e.type === 'state' && e.actor === 'connection' && (e.lastClose as number | undefined) === 1011));
    expect(hub.usage('local').totals.reports).toBeLessThan(61);

    await disk.free();
    await Promise.all(results);
    await until(
      () => hub.usage('local').totals.reports === 61,
      () => clock.increment(500),
    );
    // On disk: every report once, whatever was resent.
    const ledger = await UsageLedger.open(ledgerPath);
    expect(ledger.summary('local').totals.reports).toBe(61);
    const lines = (await readFile(ledgerPath, 'utf8')).trim().split('\n');
    expect(new Set(lines.map((line) => (JSON.parse(line) as { v: { report_id: string } }).v.report_id)).size).toBe(lines.length);
  });

  it('refuses a settings change it cannot write, keeps the last good file, and takes the change once space returns', async () => {
    const disk = await smallDiskForTest(256 * 1024);
    const path = join(disk.dir, 'settings.json');
    const store = await SettingsStore.open(path);
    await store.patch('acme', 'org', { theme: 'light' });
    const before = await readFile(path, 'utf8');
    await disk.fill();
    await expect(store.patch('acme', 'org', { theme: 'dark', filler: 'x'.repeat(8_000) })).rejects.toThrow(
      /settings\.json: cannot write \(ENOSPC\)/,
    );
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(store.document('acme', 'org').settings).toEqual({ theme: 'light' });
    await disk.free();
    await store.patch('acme', 'org', { theme: 'dark' });
    const reopened = await SettingsStore.open(path);
    expect(reopened.document('acme', 'org').settings).toEqual({ theme: 'dark' });
  });
});
