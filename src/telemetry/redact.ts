import { homedir } from 'node:os';
import { SECRET_KEYS } from '../log/logger.ts';

/** A telemetry property value after redaction: what the wire format allows. */
export type TelemetryValue = string | number | boolean | null;

const SECRET_KEY = new RegExp(
  `(^|_)(${[...SECRET_KEYS, 'credential', 'apikey', 'key', 'passphrase'].map((k) => k.toLowerCase()).join('|')})$`,
  'i',
);
// Bearer credentials, JWTs (three base64url parts, the first a JSON header), our API keys, and
// long opaque secrets (hex or base64url runs of 32+ characters).
const TOKENS = /\bBearer\s+\S+|\beyJ[\w-]+\.[\w-]+\.[\w-]*|\bctk_[\w-]+|\b[A-Fa-f0-9]{32,}\b|\b[\w-]{40,}\b/g;
const EMAIL = /[\w.+-]+@[\w-]+(\.[\w-]+)+/g;
const MAX_STRING = 1024;

/**
 * Makes event properties safe to leave the process: a key that names a secret (`token`,
 * `api_key`, `password`, …) loses its value; strings lose tokens (`Bearer …`, JWTs, `ctk_` keys,
 * long hex or base64url runs), e-mail addresses, and the home directory (`/home/ada/x` →
 * `~/x`); nested objects and arrays are dropped (the wire takes flat values); strings are cut
 * to 1 KiB.
 *
 * @example
 * redactProperties({ path: '/home/ada/project/a.ts', user: 'ada@example.com', token: 'abc', n: 3 });
 * // { path: '~/project/a.ts', user: '[email]', token: '[redacted]', n: 3 }
 */
export function redactProperties(properties: Record<string, unknown>, home: string = homedir()): Record<string, TelemetryValue> {
  const safe: Record<string, TelemetryValue> = {};
  for (const [key, value] of Object.entries(properties)) {
    // `accessToken`, `clientSecret` name secrets as much as `access_token` does.
    if (SECRET_KEY.test(key.replace(/([a-z0-9])([A-Z])/g, '$1_$2'))) {
      safe[key] = '[redacted]';
      continue;
    }
    if (typeof value === 'string') safe[key] = redactString(value, home);
    else if (typeof value === 'number') safe[key] = Number.isFinite(value) ? value : null;
    else if (typeof value === 'boolean' || value === null) safe[key] = value;
    // Objects, arrays, undefined, functions: not sent.
  }
  return safe;
}

/** Redacts one string (see {@link redactProperties}). */
export function redactString(value: string, home: string = homedir()): string {
  let text = value;
  if (home.length > 1) text = text.split(home).join('~');
  text = text.replace(TOKENS, '[redacted]').replace(EMAIL, '[email]');
  return text.length > MAX_STRING ? `${text.slice(0, MAX_STRING - 1)}…` : text;
}
