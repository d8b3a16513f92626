import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Field names whose values never reach a log line, at any of the first three levels. */
export const SECRET_KEYS = [
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'device_token',
  'authorization',
  'Authorization',
  'cookie',
  'password',
  'secret',
  'client_secret',
  'api_key',
  'apiKey',
  'credential',
  'credentials',
] as const;

/** pino redaction paths built from {@link SECRET_KEYS}: `token`, `*.token`, `*.*.token`, … */
export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export interface LoggerConfig {
  /** pino level; default `info`, or `LOG_LEVEL` from the environment. */
  level?: LoggerOptions['level'];
  /** Where lines go; default stdout. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
  /** Extra fields on every line. */
  base?: Record<string, unknown>;
}

/**
 * Creates the root pino logger with secrets redacted. Actors log through
 * `logger.child({ actor: 'connection' })`.
 *
 * @example
 * const log = createLogger({ level: 'debug' });
 * log.info({ token: 'abc' }, 'hello'); // {"level":30,…,"token":"[redacted]","msg":"hello"}
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? process.env.LOG_LEVEL ?? 'info',
    base: config.base ?? null,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}

/** A logger that writes nothing, for embedding hosts that bring no logger and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
