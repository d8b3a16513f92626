import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock, type InspectionEvent } from 'xstate';
import { fetchHttpAdapter } from '../../src/adapters/fetch-http.ts';
import type { HttpAdapter } from '../../src/adapters/http.ts';
import { createConnector, type Connector } from '../../src/connector/connector.ts';
import { createHub } from '../../src/hub/index.ts';
import type { InspectionRecord } from '../../src/inspection-events/stream.ts';
import { until, hubClockOf } from '../support/loopback.ts';

/*
 * The inspection stream of a device-mode connector against the real hub: real token endpoint,
 * real ES256 tokens refreshed in-band, settings with a field the host declared secret. Nothing a
 * host can observe through `inspect` or `connector.inspection` may carry a credential.
 */

const CREDENTIAL = 'enrollment-secret-for-inspection';
const LICENCE = 'LICENCE-7f3a9c-must-not-leak';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Everything a host could read off a sanitised event, as text. */
function readable(event: InspectionEvent): string {
  const e = event as InspectionEvent & { snapshot?: unknown; event?: unknown };
  return JSON.stringify({ type: e.type, event: e.event, snapshot: e.snapshot, actor: e.actorRef.getSnapshot?.() });
}

async function setup() {
  const clock = new SimulatedClock();
  clock.set(Date.now());
  const hub = createHub({
    heartbeatIntervalMs: 600_000,
    heartbeatTimeoutMs: 600_000,
    tokens: { lifetimeMs: 2_000, leewayMs: 500, deviceCredentials: [{ tenant_id: 'local', secret: CREDENTIAL }] },
    clock: hubClockOf(clock),
  });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => hub.close());
  await hub.settings.patchOrg('local', { licence: LICENCE, theme: 'dark' });
  // Every token the hub issues, to look for afterwards.
  const issued: string[] = [];
  const http: HttpAdapter = {
    async request(request) {
      const response = await fetchHttpAdapter.request(request);
      const token = (response.body as { access_token?: unknown } | undefined)?.access_token;
      if (typeof token === 'string') issued.push(token);
      return response;
    },
  };
  const seen: string[] = [];
  let acceptedCount = 0;
  const connector: Connector = createConnector(
    { url, credential: CREDENTIAL, deviceId: 'dev-1', seed: 5 },
    {
      clock,
      http,
      inspect: (event) => {
        seen.push(readable(event));
        if (event.type === '@xstate.event' && event.event.type === 'token.accepted') acceptedCount++;
      },
      inspection: { secretKeys: ['licence'] },
    },
  );
  const records: InspectionRecord[] = [];
  connector.inspection.subscribe((record) => void records.push(record));
  cleanups.push(async () => {
    const stopped = connector.stop();
    clock.increment(5_000);
    await stopped;
  });
  connector.start();
  return { clock, connector, issued, seen, records, accepted: () => acceptedCount };
}

describe('the inspection stream against the real hub', () => {
  it('never shows a credential, a token signature or a declared secret field', async () => {
    const { clock, connector, issued, seen, records, accepted } = await setup();
    await until(() => connector.status.connection.state === 'connected' && connector.settings.value.theme === 'dark');
    // Three in-band refreshes. Time moves only while no refresh is on its way (as in
    // test/integration/auth-hub.test.ts): a token must not expire in flight.
    while (issued.length < 4) {
      clock.increment(100);
      if (connector.status.auth.state !== 'refreshing') continue;
      const before = accepted();
      await connector.waitFor((s) => s.auth.state === 'valid');
      await until(() => accepted() > before || connector.status.connection.state !== 'connected');
    }
    await until(() => connector.status.auth.state === 'valid');

    const everything = [...seen, ...records.map((r) => JSON.stringify(r))].join('\n');
    expect(seen.length).toBeGreaterThan(100);
    expect(everything).not.toContain(CREDENTIAL);
    expect(everything).not.toContain(LICENCE);
    for (const token of issued) expect(everything).not.toContain(token.split('.')[2]);
    // Redacted, not dropped: the claims of the token and the setting's name are still there.
    expect(everything).toContain(`${issued[0]!.split('.').slice(0, 2).join('.')}.redacted`);
    expect(everything).toContain('"licence":"[redacted]"');
  });

  it('records the tree and each machine transition with its event and reason', async () => {
    const { connector, records } = await setup();
    await until(() => connector.status.connection.state === 'connected');
    const actors = connector.inspection.actors().map((a) => a.id);
    expect(actors).toEqual(
      expect.arrayContaining(['supervisor', 'supervisor/auth', 'supervisor/connection', 'supervisor/heartbeat', 'supervisor/settings']),
    );
    expect(connector.inspection.actors().find((a) => a.id === 'supervisor/connection')).toMatchObject({
      machine: 'connection',
      states: expect.arrayContaining(['online.connected']),
    });
    const connection = records.filter(
      (r): r is Extract<InspectionRecord, { type: 'transition' }> => r.type === 'transition' && r.actor === 'supervisor/connection',
    );
    expect(connection.at(-1)).toMatchObject({ to: expect.arrayContaining(['online.connected']), event: { type: 'socket.frame' } });
    expect(connection.map((t) => t.reason)).toEqual(['host_connect', 'host_connect', 'host_connect', 'host_connect', 'handshake_complete']);
    // A late subscriber learns the present first.
    const late: InspectionRecord[] = [];
    connector.inspection.subscribe((record) => void late.push(record));
    expect(late.map((r) => r.type === 'actor' && r.actor.id)).toEqual(connector.inspection.actors().map((a) => a.id));
    expect(connector.inspection.machine('connection')?.id).toBe('connection');
  });
});
