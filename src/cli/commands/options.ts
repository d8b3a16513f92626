import type { parseArgs } from 'node:util';

/** The command line's flags, as `parseArgs` reads them (src/cli/main.ts prints what each does). */
export const cliOptions = {
  json: { type: 'boolean', default: false },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
  once: { type: 'boolean', default: false },
  inspect: { type: 'boolean' },
  'inspect-port': { type: 'string' },
  record: { type: 'string' },
  check: { type: 'boolean' },
  setup: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  token: { type: 'string' },
  redis: { type: 'string' },
  'node-id': { type: 'string' },
  url: { type: 'string' },
  'device-id': { type: 'string' },
  'tenant-id': { type: 'string' },
  'state-dir': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-client-ca': { type: 'string' },
} as const;

/** The flags given, parsed: what every command reads. */
export type CliValues = ReturnType<typeof parseArgs<{ options: typeof cliOptions; allowPositionals: true }>>['values'];
