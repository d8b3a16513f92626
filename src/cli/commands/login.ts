import { type Connector, createConnector } from '../../connector/connector.ts';
import type { Logger } from '../../log/logger.ts';
import type { CliValues } from './options.ts';
import type { CliStreams } from './output.ts';
import { connectConfig } from './connect.ts';

/**
 * `cloudtether login [--url U] [--state-dir DIR]`: logs a user in with the OAuth device
 * authorization grant. Prints where to go and the code to enter, waits for the approval, and
 * keeps the session (a refresh token, `0600`, sealed with `CLOUDTETHER_STATE_KEY`) in the state
 * directory for `connect`.
 */
export async function runLogin(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const connector = await userConnector('login', values, err, logger);
  if (typeof connector === 'number') return connector;
  try {
    const status = await connector.waitFor((s) => s.auth.state === 'logged_out' || s.auth.state === 'valid');
    if (status.auth.state === 'valid') {
      out.write(`already logged in as ${status.auth.user?.userId} (${status.auth.user?.organization.name})\n`);
      return 0;
    }
    const prompt = await connector.login();
    out.write(`To log in, open ${prompt.verificationUriComplete ?? prompt.verificationUri} and enter the code ${prompt.userCode}\n`);
    const done = await connector.waitFor(
      (s) => s.auth.state === 'valid' || (s.auth.state === 'logged_out' && s.auth.reason !== 'not_logged_in'),
    );
    if (done.auth.state !== 'valid') {
      err.write(`login failed: ${done.auth.reason}\n`);
      return 1;
    }
    out.write(`logged in as ${done.auth.user?.userId} (${done.auth.user?.organization.name})\n`);
    return 0;
  } finally {
    await connector.stop();
  }
}

/** `cloudtether logout [--url U] [--state-dir DIR]`: revokes the stored session at the hub and forgets it. */
export async function runLogout(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const connector = await userConnector('logout', values, err, logger);
  if (typeof connector === 'number') return connector;
  try {
    const status = await connector.waitFor((s) => s.auth.state === 'logged_out' || s.auth.state === 'valid' || s.auth.state === 'inactive');
    if (status.auth.state === 'logged_out') {
      out.write('not logged in\n');
      return 0;
    }
    await connector.logout();
    out.write('logged out\n');
    return 0;
  } finally {
    await connector.stop();
  }
}

/** A started connector in user mode on the state directory's session, or the exit code. */
async function userConnector(verb: string, values: CliValues, err: NodeJS.WritableStream, logger: Logger): Promise<Connector | number> {
  const { config, secrets } = await connectConfig(values, process.env, { userLogin: true });
  if (config.url === undefined) {
    err.write(`${verb} needs the hub: --url or CLOUD_WS_URL\n`);
    return 2;
  }
  const connector = createConnector(
    { ...config, userLogin: true },
    { ...(secrets && { secrets }), logger: logger.child({ component: 'connector' }) },
  );
  connector.start();
  return connector;
}
