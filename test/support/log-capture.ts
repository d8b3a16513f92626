import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/logger.ts';

/** A real pino logger writing JSON lines into memory, for tests that read what was logged. */
export function captureLogs(level: 'trace' | 'debug' | 'info' = 'trace'): {
  logger: Logger;
  lines: string[];
  parsed: () => Array<Record<string, unknown>>;
} {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  return {
    logger: createLogger({ level, destination }),
    lines,
    parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
