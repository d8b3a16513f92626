import { HttpError } from './http.ts';

/*
 * What both HTTP adapters (fetch-http.ts, node-http.ts) do alike with what comes back: parse a
 * JSON body, and name a URL in messages without what may be secret in it.
 */

const JSON_CONTENT_TYPE = /^application\/(?:[\w.+-]+\+)?json(?:\s*;|\s*$)/i;

/** Parsed JSON when the content type says JSON, else the text; undefined when empty. */
export function parseBody(text: string, headers: Record<string, string>, method: string, url: string, status: number): unknown {
  if (text === '') return undefined;
  const contentType = headers['content-type'] ?? '';
  if (!JSON_CONTENT_TYPE.test(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError('invalid_response', `${method} ${url}: ${status} response says ${contentType} but its body is not JSON`, {
      method,
      url,
      status,
      cause: error,
    });
  }
}

/** The URL for messages: no query string, fragment or credentials, which may hold secrets. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
