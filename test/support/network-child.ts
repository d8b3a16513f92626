// A connector process configured from its environment only (connectorConfigFromEnv: CLOUD_WS_URL,
// CLOUD_TOKEN, HTTPS_PROXY, NODE_EXTRA_CA_CERTS, …), for the network tests: NODE_EXTRA_CA_CERTS
// is read when a process starts. It prints one line, `connected <whoami device>` or
// `failed <connection reason> <whoami error message>`, after its first attempt, and exits.
import { createConnector, connectorConfigFromEnv } from '../../src/index.ts';

const connector = createConnector(connectorConfigFromEnv());
connector.start();
const status = await connector.waitFor(
  (s) => s.connection.state === 'connected' || (s.connection.state === 'disconnected' && s.connection.attempt > 0),
);
const whoami = await connector.api.whoami().then(
  (me) => `whoami:${JSON.stringify(me)}`,
  (error: unknown) => `error:${(error as Error).message}`,
);
process.stdout.write(`${status.connection.state === 'connected' ? 'connected' : `failed ${status.connection.reason}`} ${whoami}\n`);
await connector.stop();
