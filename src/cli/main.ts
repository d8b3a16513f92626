import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createLogger } from '../log/logger.ts';
import { runConnect } from './commands/connect.ts';
import { runDemo } from './commands/demo.ts';
import { runEnroll } from './commands/enroll.ts';
import { runLogin, runLogout } from './commands/login.ts';
import { runHub } from './commands/hub.ts';
import { runReplay } from './commands/replay.ts';
import { cliOptions } from './commands/options.ts';
import type { CliStreams } from './commands/output.ts';

export const USAGE = `Usage: cloudtether <command> [options]

Commands:
  demo      run a reference hub and a connector on loopback and walk through a scenario
  hub       run the reference hub
  connect   run a connector (configured from the environment and flags)
  enroll    store the device credential (from CLOUD_DEVICE_CREDENTIAL or stdin) in the state directory
  login     log a user in (shows a code to enter at the hub) and keep the session for connect
  logout    revoke the stored user session at the hub and forget it
  replay    print a recorded session (--record FILE) as a timeline: cloudtether replay FILE
            or check that this version still does what it recorded: cloudtether replay FILE --check

Options:
  --json              one JSON line per event on stdout: each state change (demo, connect),
                            each session opened or closed (hub)
  --log-level LEVEL   log level on stderr: fatal, error, warn, info, debug, trace, silent
                      (default: LOG_LEVEL, else warn)
  -h, --help          show this help

demo:     --once            exit 0 when the scenario completed, 1 otherwise
demo, connect:
          --inspect         serve the live inspector page on loopback (prints its URL)
          --inspect-port N  its port (default 7337; 0 picks a free one)
          --record FILE     record the session to FILE (JSON Lines; docs/recording.md)
replay:   --check           replay against this version; print the first divergence
                            (exit 0 matches, 1 diverged, 2 not a session file)
          --setup MODULE    the host's handlers for --check: a module exporting setup(connector)
                            (and optionally connectorOptions); a demo recording needs none
hub:      --port N          port (default 7070; 0 picks a free one)
          --host HOST       address to bind (default 127.0.0.1)
          --token TOKEN     static device token (default: CLOUDTETHER_HUB_TOKEN)
          --tenant-id ID    the tenant whose devices the enrollment secret is for
                            (default: TENANT_ID, else "local")
          --tls-cert FILE   serve wss:// and https:// with this certificate (PEM) ...
          --tls-key FILE    ... and this key (PEM); both or neither
          --tls-client-ca FILE
                            require client certificates signed by this CA (mutual TLS)
          --redis URL       keep the hub's state in Redis, so a restart resumes devices and
                            several nodes on one Redis serve one fleet
                            (default: CLOUDTETHER_HUB_REDIS_URL; docs/scaling.md)
          --node-id ID      with --redis: this node's name among the nodes on one Redis,
                            printed as "hub node ID" (default: CLOUDTETHER_HUB_NODE_ID,
                            else node_<random>)
          --json            session_open and session_close as JSON lines on stdout
                            (else as key=value lines)
          environment:      CLOUDTETHER_HUB_ENROLLMENT_SECRET: issue device tokens to holders of it
                            CLOUDTETHER_HUB_USERS: users for login, as JSON
                            CLOUDTETHER_HUB_ADMIN_TOKEN: admin routes need this bearer
                            CLOUDTETHER_HUB_LEDGER: keep the usage ledger in this file
                            CLOUDTETHER_HUB_SETTINGS: keep the settings documents in this file
                            (these two files not with --redis, which keeps both)
                            CLOUDTETHER_HUB_REDIS_PREFIX: with --redis, the prefix of every key
                            (default "cloudtether:"; the same on every node of one fleet)
connect:  --url URL         hub URL (default: CLOUD_WS_URL; unset: standalone mode)
          --token TOKEN     static token (default: CLOUD_TOKEN); without one, the device
                            credential (CLOUD_DEVICE_CREDENTIAL, else the one enrolled) is used
          --device-id ID    device id (default: DEVICE_ID, else the state directory's)
          --tenant-id ID    tenant (default: TENANT_ID, else "local")
connect, enroll, login, logout:
          --state-dir DIR   state directory (default: CLOUDTETHER_STATE_DIR, else ~/.cloudtether);
                            secrets in it are sealed when CLOUDTETHER_STATE_KEY is set
`;

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[], streams: CliStreams = { out: process.stdout, err: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: cliOptions, allowPositionals: true, strict: true });
  } catch (error) {
    streams.err.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') {
    streams.out.write(USAGE);
    return 0;
  }
  if (command === 'replay')
    return runReplay(rest[0], values, streams).catch((error: unknown) => {
      streams.err.write(`cloudtether replay: ${(error as Error).message}\n`);
      return 1;
    });
  if (rest.length > 0 || command === undefined) {
    streams.err.write(command === undefined ? USAGE : `unexpected argument: ${rest[0]}\n\n${USAGE}`);
    return 2;
  }
  const level = values['log-level'] ?? process.env.LOG_LEVEL ?? 'warn';
  if (!(level in pino.levels.values) && level !== 'silent') {
    streams.err.write(`unknown log level: ${level} (fatal, error, warn, info, debug, trace, silent)\n`);
    return 2;
  }
  // Logs go to stderr so stdout carries only state lines (and stays parseable with --json).
  const logger = createLogger({ level, destination: process.stderr });
  const run = { demo: runDemo, hub: runHub, connect: runConnect, enroll: runEnroll, login: runLogin, logout: runLogout }[command];
  if (!run) {
    streams.err.write(`unknown command: ${command}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await run(values, streams, logger);
  } catch (error) {
    // Bad input from outside (a port in use, an unreadable state file) gets one line, no stack.
    const { code, message } = error as NodeJS.ErrnoException;
    const prefix = code && !message.includes(code) ? `${code}: ` : '';
    streams.err.write(`cloudtether ${command}: ${prefix}${message}\n`);
    logger.debug({ err: error }, 'command failed');
    return 1;
  }
}
