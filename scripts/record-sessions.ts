/**
 * Records the session fixtures in test/fixtures/sessions/ against a real hub on loopback, in real
 * time: `npm run record-sessions`. Re-run it when the protocol changes on purpose; the replay
 * tests then check the new behaviour against the new files.
 */
import { join } from 'node:path';
import { createConnector } from '../src/connector/connector.ts';
import { createHub } from '../src/hub/index.ts';
import { CREDENTIAL, DEVICE_ID, SCENARIOS, setupHost } from '../test/fixtures/sessions/scenarios.ts';

const folder = join(import.meta.dirname, '..', 'test', 'fixtures', 'sessions');
const only = process.argv[2];

for (const [index, scenario] of SCENARIOS.entries()) {
  if (only && !scenario.file.startsWith(only)) continue;
  const hub = createHub({
    tokens: { lifetimeMs: scenario.tokenLifetimeMs, deviceCredentials: [{ tenant_id: 'local', device_id: DEVICE_ID, secret: CREDENTIAL }] },
  });
  const { url } = await hub.listen({ port: 0, host: '127.0.0.1' });
  const file = join(folder, scenario.file);
  const connector = createConnector({ url, credential: CREDENTIAL, deviceId: DEVICE_ID, seed: 1000 + index }, { record: { file } });
  setupHost(connector);
  connector.start();
  try {
    await scenario.run(hub, connector);
  } finally {
    await connector.stop();
    await hub.close();
  }
  console.log(`recorded ${scenario.file}`);
}
