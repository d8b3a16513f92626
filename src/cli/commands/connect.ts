import { ConfigError, connectorConfigFromEnv } from '../../connector/config.ts';
import { createConnector } from '../../connector/connector.ts';
import type { Logger } from '../../log/logger.ts';
import { type CliValues, untilSignal } from '../main.ts';
import { type CliStreams, createStatePrinter } from '../output.ts';

/** `cloudtether connect [--url U] [--token T] [--device-id D] [--tenant-id T]` */
export async function runConnect(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const config = connectorConfigFromEnv(process.env, {
    ...(values.url && { url: values.url }),
    ...(values.token && { token: values.token }),
    ...(values['device-id'] && { deviceId: values['device-id'] }),
    ...(values['tenant-id'] && { tenantId: values['tenant-id'] }),
  });
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
