import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createMemoryStorage } from '../../src/adapters/storage.ts';
import { createConnector, type Connector } from '../../src/connector/connector.ts';
import { createHub } from '../../src/hub/index.ts';
import { createSecretStore } from '../../src/storage/secret-store.ts';
import { hubClockOf } from '../support/loopback.ts';

/*
 * User login against the real hub over loopback (real HTTP, real sockets, real ES256 tokens),
 * hub and connector on one SimulatedClock: the OAuth device authorization grant, organizations
 * as tenants, a restart that resumes the stored session, and logout.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup() {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const hub = createHub({
    heartbeatIntervalMs: 600_000,
    heartbeatTimeoutMs: 600_000,
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
    clock: hubClockOf(clock),
  });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => hub.close());
  const storage = createMemoryStorage();
  const start = () => {
    const connector = createConnector(
      { url, userLogin: true, deviceId: 'laptop-1', seed: 4 },
      { clock, secrets: createSecretStore(storage) },
    );
    cleanups.push(async () => {
      const stopped = connector.stop();
      clock.increment(2_000);
      await stopped;
    });
    connector.start();
    return connector;
  };
  return { clock, hub, storage, start };
}

const connected = (c: Connector) => c.waitFor((s) => s.connection.state === 'connected');

describe('user login against the real hub', () => {
  it("logs in with a device code, connects in the user's organization, switches, resumes after a restart, logs out", async () => {
    const { clock, hub, storage, start } = await setup();
    const connector = start();
    await connector.waitFor((s) => s.auth.state === 'logged_out');

    const prompt = await connector.login();
    expect(prompt.userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    await hub.approveDeviceLogin(prompt.userCode, { userId: 'alice' }); // the user, in a browser
    clock.increment(1_000); // the next poll
    const first = await connected(connector);
    expect(first.auth.user).toMatchObject({ userId: 'alice', organization: { id: 'org-a' } });
    expect(hub.devices()).toEqual([expect.objectContaining({ device_id: 'laptop-1', tenant_id: 'org-a' })]);
    expect(storage.entries.has('refresh_token')).toBe(true);

    const orgAClosed = new Promise<void>((resolve) => hub.on('session_close', (session) => session.tenant_id === 'org-a' && resolve()));
    await connector.switchOrganization('org-b');
    const switched = await connector.waitFor(
      (s) => s.connection.state === 'connected' && s.connection.sessionId !== first.connection.sessionId,
    );
    expect(switched.auth.user?.organization.id).toBe('org-b');
    // The org-a session is gone and the device is connected in org-b only.
    await orgAClosed;
    expect(hub.devices()).toEqual([expect.objectContaining({ device_id: 'laptop-1', tenant_id: 'org-b' })]);
    await expect(connector.switchOrganization('org-zzz')).rejects.toThrow();

    // A restart resumes the stored session: no new login.
    const stopped = connector.stop();
    clock.increment(2_000);
    await stopped;
    const again = start();
    const resumed = await connected(again);
    expect(resumed.auth.user?.organization.id).toBe('org-b');

    const sessionClosed = new Promise((resolve) => hub.once('session_close', resolve));
    await again.logout();
    expect(storage.entries.has('refresh_token')).toBe(false);
    const out = await again.waitFor((s) => s.auth.state === 'logged_out' && s.connection.state !== 'connected');
    expect(out.auth.reason).toBe('logged_out');
    await sessionClosed;
    expect(hub.devices()).toEqual([]);
  });

  it('says so when the user denies the login at the hub', async () => {
    const { clock, hub, start } = await setup();
    const connector = start();
    await connector.waitFor((s) => s.auth.state === 'logged_out');
    const prompt = await connector.login();
    await hub.denyDeviceLogin(prompt.userCode);
    clock.increment(1_000);
    const denied = await connector.waitFor((s) => s.auth.state === 'logged_out' && s.auth.reason !== 'not_logged_in');
    expect(denied.auth.reason).toBe('login_denied');
  });
});
