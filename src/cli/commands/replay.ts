import { readFile } from 'node:fs/promises';
import { parseSession, SessionFileError } from '../../recording/format.ts';
import { formatTimeline } from '../../recording/timeline.ts';
import type { CliValues } from './options.ts';
import type { CliStreams } from './output.ts';

/**
 * `cloudtether replay FILE [--json]`: prints a recorded session (`--record FILE`) as a timeline,
 * one line per frame, HTTP exchange, timer, host call and transition; with `--json`, the entries
 * as they are in the file. Checking a session against the code is `replaySession` in a test,
 * where the host's handlers can be registered as they were.
 */
export async function runReplay(file: string | undefined, values: CliValues, { out, err }: CliStreams): Promise<number> {
  if (file === undefined) {
    err.write('replay needs a session file: cloudtether replay FILE\n');
    return 2;
  }
  let session;
  try {
    session = parseSession(await readFile(file, 'utf8'));
  } catch (error) {
    if (!(error instanceof SessionFileError)) throw error;
    err.write(`${file}: ${error.message}\n`);
    return 1;
  }
  if (values.json) for (const { entry } of session.entries) out.write(`${JSON.stringify(entry)}\n`);
  else out.write(`${formatTimeline(session).join('\n')}\n`);
  return 0;
}
