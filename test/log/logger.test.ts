import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, SECRET_KEYS } from '../../src/log/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
  return { logger: createLogger({ level: 'trace', destination }), lines };
}

describe('logger', () => {
  it.each(SECRET_KEYS)('redacts %s at the top level and two levels down', (key) => {
    const { logger, lines } = capture();
    const secret = `s3cr3t-${key}`;
    logger.info({ [key]: secret, nested: { [key]: secret, deeper: { [key]: secret } } }, 'x');
    expect(lines.join('')).not.toContain(secret);
    expect(lines.join('')).toContain('[redacted]');
  });

  it('redacts through child loggers and keeps everything else', () => {
    const { logger, lines } = capture();
    logger.child({ actor: 'socket' }).warn({ frame: { type: 'connect', token: 'tok-123', device_id: 'dev-1' } }, 'bad frame');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ actor: 'socket', msg: 'bad frame', frame: { type: 'connect', token: '[redacted]', device_id: 'dev-1' } });
  });
});
