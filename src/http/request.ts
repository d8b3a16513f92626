/**
 * Server-side HTTP helpers shared by the hub (src/hub/) and the device-side inspector
 * (src/inspector/): reading a request (its target, `Host`, body and parameters), answering with
 * JSON (reply.ts), comparing secrets in constant time (safe-equal.ts), and where a request came
 * from (client-address.ts). Only `node:http`
 * types and `node:crypto`: nothing of the hub or the connector.
 */
import type { IncomingMessage } from 'node:http';

/** The path of a request target, without its query string. */
export function pathOf(url: string | undefined): string {
  return (url ?? '/').split('?', 1)[0] ?? '/';
}

/** The query parameters of a request target. */
export function queryOf(url: string | undefined): URLSearchParams {
  const target = url ?? '/';
  const at = target.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : target.slice(at + 1));
}

/** A `Host` header we are willing to put in a URL: a name or address, and a port. */
const SAFE_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The request's `Host`, when it is safe to put in a URL (a link the hub hands out).
 *
 * @example
 * const link = hostOf(req) ?? 'localhost';
 */
export function hostOf(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  return host !== undefined && SAFE_HOST.test(host) ? host : undefined;
}

/**
 * The origin a link handed back on this request should use: `https` when the request came over
 * TLS, the request's safe `Host`, else `fallbackHost`.
 *
 * @example
 * const url = `${originOf(req, fallbackHost)}/v1/oauth/device`; // https://hub.example:7443/v1/oauth/device
 */
export function originOf(req: IncomingMessage, fallbackHost: () => string): string {
  const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${secure ? 'https' : 'http'}://${hostOf(req) ?? fallbackHost()}`;
}

/**
 * Reads a request body as UTF-8, up to `limit` bytes. Resolves with `undefined` when the body
 * is larger or the client went away before sending all of it.
 *
 * @example
 * const text = await readBody(req, 16 * 1024);
 * if (text === undefined) return reply(res, 400, { error: 'invalid_request' });
 */
export function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (value: string | undefined) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > limit) return settle(undefined);
      chunks.push(chunk);
    });
    req.on('end', () => settle(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => settle(undefined));
    req.on('close', () => settle(undefined));
  });
}

/**
 * Reads request parameters from a body that is `application/x-www-form-urlencoded` (as
 * RFC 6749 clients send) or JSON (anything else). Resolves with `undefined` for a body that is
 * neither a JSON object nor a form, or a form that repeats a parameter (RFC 6749 §3.2).
 *
 * @example
 * parseParams('application/x-www-form-urlencoded', 'grant_type=refresh_token&client_id=laptop-1');
 * // { grant_type: 'refresh_token', client_id: 'laptop-1' }
 * parseParams('application/json', '{"client_id":"laptop-1"}'); // { client_id: 'laptop-1' }
 */
export function parseParams(contentType: string | undefined, text: string): Record<string, unknown> | undefined {
  const type = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') {
    const entries = [...new URLSearchParams(text)];
    if (new Set(entries.map(([key]) => key)).size !== entries.length) return undefined;
    // fromEntries defines own properties: a `__proto__` parameter stays a plain key.
    return Object.fromEntries(entries);
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
