import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connectConfig } from '../../../src/cli/commands/connect.ts';
import { main } from '../../../src/cli/main.ts';
import { createHub, type Hub } from '../../../src/hub/index.ts';

let dir: string;
let hub: Hub;
afterEach(async () => {
  await hub?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('cloudtether login / logout', () => {
  it('logs in with the code it prints, keeps the session for connect, and logs out', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudtether-login-'));
    hub = createHub({
      tokens: { pollIntervalS: 1, users: [{ user_id: 'alice', organizations: [{ id: 'org-a', name: 'Acme', role: 'owner' }] }] },
    });
    const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
    const out = new PassThrough();
    const err = new PassThrough();
    let printed = '';
    // The user reads the code off the terminal and approves it in a browser.
    out.on('data', (chunk) => {
      printed += chunk;
      const code = /enter the code ([A-Z]{4}-[A-Z]{4})/.exec(printed)?.[1];
      if (code && !printed.includes('approved')) {
        printed += 'approved';
        void hub.approveDeviceLogin(code, { userId: 'alice' });
      }
    });
    const args = ['--url', url, '--state-dir', dir, '--device-id', 'laptop-1', '--log-level', 'silent'];
    expect(await main(['login', ...args], { out, err })).toBe(0);
    expect(printed).toContain('logged in as alice (Acme)');
    expect((await stat(join(dir, 'refresh_token'))).mode & 0o777).toBe(0o600);

    const { config } = await connectConfig({ json: false, help: false, once: false, url, 'state-dir': dir, 'device-id': 'laptop-1' }, {});
    expect(config).toMatchObject({ url, userLogin: true, deviceId: 'laptop-1' });

    expect(await main(['logout', ...args], { out, err })).toBe(0);
    expect(printed).toContain('logged out');
    await expect(stat(join(dir, 'refresh_token'))).rejects.toThrow();
  });
});
