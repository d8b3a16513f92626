import { ConfigError, type ConnectorConfigInput, connectorConfigFromEnv } from '../../connector/config.ts';
import { createConnector } from '../../connector/connector.ts';
import type { Logger } from '../../log/logger.ts';
import { resolveDeviceIdentity } from '../../storage/device-identity.ts';
import { type CliValues, untilSignal } from '../main.ts';
import { type CliStreams, createStatePrinter } from '../output.ts';
import { DEVICE_CREDENTIAL_ENTRY, openState } from '../state.ts';

/**
 * The connector configuration the CLI runs with: flags over the environment, the device id from
 * the state directory (generated and saved on first run), and the device credential from
 * `CLOUD_DEVICE_CREDENTIAL` or, failing that, the secret store (`cloudtether enroll`).
 */
export async function connectConfig(values: CliValues, env: Record<string, string | undefined>): Promise<ConnectorConfigInput> {
  const config = connectorConfigFromEnv(env, {
    ...(values.url && { url: values.url }),
    ...(values.token && { token: values.token }),
    ...(values['tenant-id'] && { tenantId: values['tenant-id'] }),
  });
  if (config.url === undefined) return config; // standalone: nothing to identify or prove
  const { storage, secrets } = openState(values['state-dir'], env);
  const identity = await resolveDeviceIdentity({ storage, configured: values['device-id'], env });
  const credential = config.token === undefined && config.credential === undefined ? await secrets.get(DEVICE_CREDENTIAL_ENTRY) : undefined;
  return { ...config, deviceId: identity.deviceId, ...(credential !== undefined && { credential }) };
}

/** `cloudtether connect [--url U] [--token T] [--device-id D] [--tenant-id T] [--state-dir DIR]` */
export async function runConnect(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const config = await connectConfig(values, process.env);
  let connector;
  try {
    connector = createConnector(config, { logger: logger.child({ component: 'connector' }) });
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
  connector.start();
  await signal;
  await connector.stop();
  return 0;
}
