import { createHash } from 'node:crypto';
import { type PageFile, pageAssets } from './page-assets.ts';

/** The page's scripts, in the order they are concatenated (later ones use earlier ones' functions). */
const SCRIPTS: PageFile[] = ['format.js', 'chart.js', 'panels.js', 'main.js'];

/** The inspector page, ready to serve: one HTML document and the headers that go with it. */
export interface InspectorPage {
  html: string;
  headers: Record<string, string>;
}

/**
 * Builds the page from the files of `src/inspector-page/page/`, embedded in src/inspector-page/page-assets.ts
 * (no file is read: the page works from `dist/` and from a bundle). The stylesheet and scripts
 * are inlined, so the page is one guarded request (no asset needs the token) and loads nothing
 * from anywhere else. The Content-Security-Policy allows exactly those inline blocks (by hash)
 * and a WebSocket to this server, nothing more.
 *
 * @example
 * const page = buildPage();
 * res.writeHead(200, page.headers).end(page.html);
 */
export function buildPage(): InspectorPage {
  const template = pageAssets['index.html'];
  const style = pageAssets['inspector.css'];
  const scripts = SCRIPTS.map((name) => pageAssets[name]);
  // One scope for all the files, strict, and nothing left on `window`.
  const script = `(() => {\n'use strict';\n${scripts.join('\n')}\n})();`;
  const html = template
    .replace('<style></style>', () => `<style>${style}</style>`)
    .replace('<script></script>', () => `<script>${script}</script>`);
  const csp = [
    "default-src 'none'",
    `style-src '${sha256(style)}'`,
    `script-src '${sha256(script)}'`,
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    html,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'cache-control': 'no-store',
      // The URL carries the token: never send it on as a referrer.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-length': String(Buffer.byteLength(html)),
    },
  };
}

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}`;
}
