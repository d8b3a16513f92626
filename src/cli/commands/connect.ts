import { ConfigError, type ConnectorConfigInput, connectorConfigFromEnv } from '../../connector/config.ts';
import { createConnector } from '../../connector/connector.ts';
import type { Logger } from '../../log/logger.ts';
import { REFRESH_TOKEN_ENTRY } from '../../actors/user-login.ts';
import { resolveDeviceIdentity } from '../../storage/device-identity.ts';
import type { SecretStore } from '../../storage/secret-store.ts';
import type { CliValues } from './options.ts';
import { untilSignal } from './until-signal.ts';
import { type CliStreams, createStatePrinter } from './output.ts';
import { join } from 'node:path';
import { openConnectorStore } from '../../connector/remote-work.ts';
import { DEVICE_CREDENTIAL_ENTRY, openState, stateDirOf } from './state.ts';
import { inspectOption } from './inspect-option.ts';
import { startInspector } from '../../inspector-page/server.ts';

/**
 * The connector configuration the CLI runs with: flags over the environment, the device id from
 * the state directory (generated and saved on first run), and the credential: a static token,
 * else `CLOUD_DEVICE_CREDENTIAL` or the enrolled one (`cloudtether enroll`), else a stored user
 * session (`cloudtether login`).
 */
export async function connectConfig(
  values: CliValues,
  env: Record<string, string | undefined>,
  { userLogin = false }: { userLogin?: boolean } = {},
): Promise<{ config: ConnectorConfigInput; secrets: SecretStore | undefined }> {
  const config = connectorConfigFromEnv(env, {
    ...(values.url && { url: values.url }),
    ...(values.token && !userLogin && { token: values.token }),
    ...(values['tenant-id'] && { tenantId: values['tenant-id'] }),
  });
  if (config.url === undefined) return { config, secrets: undefined }; // standalone: nothing to identify or prove
  const { storage, secrets } = openState(values['state-dir'], env);
  const identity = await resolveDeviceIdentity({ storage, configured: values['device-id'], env });
  const withId = { ...config, deviceId: identity.deviceId };
  if (userLogin || config.token !== undefined || config.credential !== undefined) return { config: withId, secrets };
  const credential = await secrets.get(DEVICE_CREDENTIAL_ENTRY);
  if (credential !== undefined) return { config: { ...withId, credential }, secrets };
  const session = await secrets.get(REFRESH_TOKEN_ENTRY);
  return { config: session !== undefined ? { ...withId, userLogin: true } : withId, secrets };
}

/** `cloudtether connect [--url U] [--token T] [--device-id D] [--tenant-id T] [--state-dir DIR] [--inspect [--inspect-port N]] [--record FILE]` */
export async function runConnect(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const inspect = inspectOption(values);
  if (typeof inspect === 'string') {
    err.write(`${inspect}\n`);
    return 2;
  }
  const { config, secrets } = await connectConfig(values, process.env);
  let connector;
  try {
    // Connected, the outbox and the execution journal live in the state directory and survive a crash.
    const store =
      config.url === undefined ? undefined : await openConnectorStore(join(stateDirOf(values['state-dir'], process.env), 'delivery'));
    connector = createConnector(config, {
      ...(secrets && { secrets }),
      ...(store && { store }),
      ...(values.record && { record: { file: values.record } }),
      logger: logger.child({ component: 'connector' }),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      err.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const print = createStatePrinter(values.json, out);
  connector.on('state', ({ type: _type, ...change }) => print(change));
  // Listen before starting: a Ctrl-C in between would otherwise kill the process unstopped.
  const signal = untilSignal();
  try {
    // Before start, so the page has every transition; stdout stays for state lines.
    const inspector = inspect && (await startInspector(connector, { ...inspect, logger }));
    if (inspector) err.write(`inspector at ${inspector.url}\n`);
  } catch (error) {
    signal.cancel();
    throw error;
  }
  connector.start();
  await signal;
  await connector.stop(); // the inspector closes with it
  return 0;
}
