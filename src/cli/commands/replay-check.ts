import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Connector } from '../../connector/connector.ts';
import type { SessionFile } from '../../recording/format.ts';
import { replayParsed, type ReplayOptions } from '../../replay/replay.ts';
import { demoSettingsSchema, registerDemoHandlers } from './demo-handlers.ts';
import type { CliStreams } from './output.ts';

/** The client name the demo's connector announces: its recordings are checked with the demo's handlers. */
const DEMO_CLIENT = 'cloudtether-demo';

/**
 * `cloudtether replay FILE --check [--setup MODULE]`: replays the session against this version of
 * the connector and prints the first divergence (its line, what was recorded and what the replay
 * did, where inside the entry, and the recorded timeline before it). Exit 0 when the replay does
 * what the recording did, 1 at a divergence.
 *
 * The host's handlers come from MODULE (a module that exports `setup(connector)`, and may export
 * `connectorOptions`, e.g. its settings schema); a recording of `cloudtether demo` brings the
 * demo's. Without them a session that ran handlers diverges at its `connect` frame's tool list.
 */
export async function checkReplay(
  file: string,
  session: SessionFile,
  setupModule: string | undefined,
  { out }: CliStreams,
): Promise<number> {
  const options = await replayOptionsFor(session, setupModule);
  const result = await replayParsed(session, options);
  if (result.ok) {
    out.write(`${file}: replayed all ${result.entries} entries; the connector does what the recording did\n`);
    return 0;
  }
  out.write(`${file}: ${result.divergence!.message}\n`);
  out.write(
    `replayed ${result.replayed} of ${result.entries} entries; to keep this as a failing test, see docs/recording.md (From a field report to a failing test)\n`,
  );
  return 1;
}

async function replayOptionsFor(session: SessionFile, setupModule: string | undefined): Promise<ReplayOptions> {
  if (setupModule !== undefined) {
    const host = (await import(pathToFileURL(resolve(setupModule)).href)) as {
      setup?: unknown;
      default?: unknown;
      connectorOptions?: ReplayOptions['connector'];
    };
    const setup = host.setup ?? host.default;
    if (typeof setup !== 'function') throw new TypeError(`${setupModule} exports no setup(connector) function`);
    return { setup: setup as (connector: Connector) => void, ...(host.connectorOptions && { connector: host.connectorOptions }) };
  }
  const client = session.header.config.client as { name?: unknown } | undefined;
  if (client?.name === DEMO_CLIENT) return { setup: registerDemoHandlers, connector: { settings: { schema: demoSettingsSchema } } };
  return {};
}
