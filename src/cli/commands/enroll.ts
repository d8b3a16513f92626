import type { Logger } from '../../log/logger.ts';
import type { CliValues } from './options.ts';
import type { CliStreams } from './output.ts';
import { DEVICE_CREDENTIAL_ENTRY, openState } from './state.ts';

/**
 * `cloudtether enroll [--state-dir DIR]`: stores the device credential (from
 * `CLOUD_DEVICE_CREDENTIAL`, else the first line of standard input) in the secret store, `0600`,
 * sealed when `CLOUDTETHER_STATE_KEY` is set. Never from a flag: argv is visible to every user.
 */
export async function runEnroll(
  values: CliValues,
  { out, err }: CliStreams,
  _logger: Logger,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  const credential = process.env.CLOUD_DEVICE_CREDENTIAL?.trim() || (await firstLine(stdin));
  if (!credential) {
    err.write('no credential: set CLOUD_DEVICE_CREDENTIAL or pipe it on standard input\n');
    return 2;
  }
  const { storage, secrets } = openState(values['state-dir'], process.env);
  await secrets.set(DEVICE_CREDENTIAL_ENTRY, credential);
  out.write(`device credential stored in ${storage.location}${secrets.sealed ? ' (sealed)' : ''}\n`);
  return 0;
}

async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!.trim();
}
