import { describe, expect, it } from 'vitest';
import { SECRET_KEYS } from '../../src/log/logger.ts';
import { captureLogs } from '../support/log-capture.ts';

const capture = () => captureLogs('trace');

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
