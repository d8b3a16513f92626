import { SECRET_KEYS } from '../log/logger.ts';

/** What a redacted value becomes. */
export const REDACTED = '[redacted]';

/** What may be redacted besides the built-in secret names. */
export interface RedactOptions {
  /** More field names whose values are secret (matched like the built-in ones: `licenceKey` matches `licence_key`). */
  secretKeys?: readonly string[];
  /** Exact secret values (a device credential, a static token) to cut out of any string. */
  secretValues?: readonly string[];
}

const BUILT_IN_KEYS = [
  ...SECRET_KEYS,
  'credential',
  'api_key',
  'apikey',
  'passphrase',
  'private_key',
  'client_secret',
  'user_code',
  'device_code',
];
// A JWT: three base64url parts, the first a JSON header (`eyJ`). The signature is what makes it a
// credential; header and payload stay so a replay can still read `exp` (docs/recording.md).
const JWT = /\beyJ[\w-]*\.[\w-]*\.[\w-]+/g;
const IS_JWT = /^eyJ[\w-]*\.[\w-]*\.[\w-]+$/;
const BEARER = /\bBearer\s+(?!\[redacted\])([^\s"']+)/g;
const API_KEY = /\bctk_[\w-]+/g;
// user:password@ in a URL (a proxy's Basic credentials): the host stays, the credentials go.
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"']+@/gi;
const MAX_DEPTH = 16;
const QUERY_PARAM = /([?&])([\w.-]+)=([^&#\s"']*)/g;
const ENCODED_REDACTED = encodeURIComponent(REDACTED);

/**
 * A redactor: makes a value safe to show or store (inspection, recordings). Values under a field
 * that names a secret (`token`, `access_token`, `credential`, `password`, `api_key`, `authorization`,
 * the extra `secretKeys`, in any case style) become `[redacted]`; in every string, JWT signatures,
 * `Bearer` credentials, `ctk_` API keys, a URL's `user:password@` (a proxy's) and the given
 * `secretValues` are cut out. A string that holds
 * a JSON object (a frame) is redacted inside. Redacting twice changes nothing, so a redacted
 * recording compares equal to a redacted replay.
 *
 * @example
 * const redact = createRedactor({ secretKeys: ['licence'], secretValues: [credential] });
 * redact({ token: 'abc', licence: 'L-1', note: `key ${credential}` });
 * // { token: '[redacted]', licence: '[redacted]', note: 'key [redacted]' }
 */
export function createRedactor(options: RedactOptions = {}): <T>(value: T) => T {
  const names = [...BUILT_IN_KEYS, ...(options.secretKeys ?? [])].map(normalKey);
  const secretKey = new RegExp(`(^|_)(${names.map(escape).join('|')})$`);
  // Longest first, so a value that contains another is cut whole.
  const values = [...new Set(options.secretValues ?? [])].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);

  const text = (value: string): string => {
    let out = value;
    for (const secret of values) out = out.split(secret).join(REDACTED);
    if (out.startsWith('{') && out.endsWith('}')) {
      try {
        return JSON.stringify(walk(JSON.parse(out), 0, new WeakSet()));
      } catch {
        // Not JSON after all: redact it as text.
      }
    }
    return out
      .replace(QUERY_PARAM, (all, separator: string, name: string, value: string) =>
        // A secret in a URL's query (`?user_code=…` in a login link); one already cut stays as it is.
        secretKey.test(normalKey(name)) && value !== REDACTED && value !== ENCODED_REDACTED
          ? `${separator}${name}=${ENCODED_REDACTED}`
          : all,
      )
      .replace(JWT, jwtWithoutSignature)
      .replace(BEARER, (_all, token: string) => `Bearer ${IS_JWT.test(token) ? token : REDACTED}`)
      .replace(API_KEY, 'ctk_[redacted]')
      .replace(URL_CREDENTIALS, `$1${REDACTED}@`);
  };

  const secret = (value: unknown): unknown => {
    if (typeof value !== 'string') return value === undefined || value === null ? value : REDACTED;
    // A JWT keeps its claims (expiry drives refresh timing); anything else goes whole.
    return IS_JWT.test(value) ? jwtWithoutSignature(value) : value.startsWith('Bearer ') ? text(value) : REDACTED;
  };

  const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === 'string') return text(value);
    if (value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
    if (depth >= MAX_DEPTH) return '[too deep]';
    if (seen.has(value)) return '[cycle]';
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, seen));
      if (value instanceof Error) return { name: value.name, message: text(value.message) };
      if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
      if (value instanceof Map) return walk(Object.fromEntries(value), depth, seen);
      if (value instanceof Set) return walk([...value], depth, seen);
      // An actor reference: its id is what a reader can use; its internals hold everything.
      if (isActorRef(value)) return { actor: (value as { id: string }).id };
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const safe = secretKey.test(normalKey(key)) ? secret(item) : walk(item, depth + 1, seen);
        if (safe !== undefined) out[key] = safe;
      }
      return out;
    } finally {
      seen.delete(value);
    }
  };

  return <T>(value: T) => walk(value, 0, new WeakSet()) as T;
}

function jwtWithoutSignature(jwt: string): string {
  const [header, payload] = jwt.split('.');
  return `${header}.${payload}.redacted`;
}

/** `refreshToken`, `Refresh-Token` and `refresh_token` are one name. */
function normalKey(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isActorRef(value: object): boolean {
  return 'sessionId' in value && typeof (value as { send?: unknown }).send === 'function';
}
