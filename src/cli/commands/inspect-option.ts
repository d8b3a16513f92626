import type { InspectorOptions } from '../../inspector-page/server.ts';
import type { CliValues } from './options.ts';

/** The inspector's port when `--inspect-port` is not given. */
export const DEFAULT_INSPECT_PORT = 7337;

/**
 * Reads `--inspect [--inspect-port N]`: the inspector's options, `undefined` without `--inspect`,
 * or an error message for a bad port. The inspector binds loopback only from the CLI.
 *
 * @example
 * const inspect = inspectOption(values);
 * if (typeof inspect === 'string') return usageError(inspect);
 */
export function inspectOption(values: CliValues): InspectorOptions | undefined | string {
  if (!values.inspect) return values['inspect-port'] === undefined ? undefined : '--inspect-port needs --inspect';
  const port = Number(values['inspect-port'] ?? DEFAULT_INSPECT_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return `--inspect-port must be a port number, got ${values['inspect-port']}`;
  return { port, host: '127.0.0.1' };
}
