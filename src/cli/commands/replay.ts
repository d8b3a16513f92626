import { readFile } from 'node:fs/promises';
import { parseSession, SessionFileError } from '../../recording/format.ts';
import { formatTimeline } from '../../recording/timeline.ts';
import { checkReplay } from './replay-check.ts';
import type { CliValues } from './options.ts';
import type { CliStreams } from './output.ts';

/**
 * `cloudtether replay FILE [--json] [--check [--setup MODULE]]`: prints a recorded session
 * (`--record FILE`) as a timeline, one line per frame, HTTP exchange, timer, host call and
 * transition; with `--json`, the entries as they are in the file. With `--check` it replays the
 * session against this version of the connector instead and prints the first divergence
 * (src/cli/commands/replay-check.ts): exit 0 when it matches, 1 at a divergence, 2 for a file
 * that is not a session.
 */
export async function runReplay(file: string | undefined, values: CliValues, streams: CliStreams): Promise<number> {
  const { out, err } = streams;
  if (file === undefined) {
    err.write('replay needs a session file: cloudtether replay FILE\n');
    return 2;
  }
  let session;
  try {
    session = parseSession(await readFile(file, 'utf8'));
  } catch (error) {
    if (!(error instanceof SessionFileError) && !(values.check && isMissing(error))) throw error;
    err.write(`${file}: ${(error as Error).message}\n`);
    // --check answers a script: 1 is kept for "diverged", a file that cannot be checked is 2.
    return values.check ? 2 : 1;
  }
  if (values.check) return checkReplay(file, session, values.setup, streams);
  if (values.json) for (const { entry } of session.entries) out.write(`${JSON.stringify(entry)}\n`);
  else out.write(`${formatTimeline(session).join('\n')}\n`);
  return 0;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES';
}
