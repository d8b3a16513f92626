import type { StateChange } from '../../connector/status.ts';

/** Where the CLI writes: stdout for state lines, stderr for people-only notes. */
export interface CliStreams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/**
 * Prints state changes: one JSON line each with `--json`
 * (`{"actor":"connection","state":"connected","reason":"handshake_complete",…}`), otherwise an
 * aligned line for a person (`12:00:01.234  connection  connected  handshake_complete`).
 */
export function createStatePrinter(json: boolean, out: NodeJS.WritableStream, now: () => number = Date.now) {
  return (change: StateChange): void => {
    if (json) {
      out.write(`${JSON.stringify({ ...change, at: now() })}\n`);
      return;
    }
    const { actor, state, reason, ...details } = change;
    const extra = Object.entries(details)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(' ');
    const time = new Date(now()).toISOString().slice(11, 23);
    out.write(`${time}  ${actor.padEnd(10)}  ${state.padEnd(12)}  ${reason}${extra ? `  ${extra}` : ''}\n`);
  };
}

/** A narrative line for a person (demo steps); a `{"step":…}` JSON line with `--json`. */
export function createNarrator(json: boolean, out: NodeJS.WritableStream) {
  return (step: string, text: string): void => {
    out.write(json ? `${JSON.stringify({ step, text })}\n` : `\n▸ ${text}\n`);
  };
}
