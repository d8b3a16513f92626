/**
 * The inspector page's files embedded in JavaScript (src/inspector-page/page-assets.ts), so that the
 * page is served from `dist/` and from a host's bundle, where no file sits beside the module.
 * src/inspector-page/page/ stays the source to edit; `npm run docs` regenerates the module and
 * test/inspector-page/generated.test.ts fails while it is stale.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const PAGE_DIR = 'src/inspector-page/page';
export const PAGE_ASSETS_MODULE = 'src/inspector-page/page-assets.ts';

/** The module's text: every file of {@link PAGE_DIR}, by name, as a string literal. */
export function pageAssetsModule(): string {
  const names = readdirSync(PAGE_DIR).sort();
  const entries = names.map((name) => `  ${JSON.stringify(name)}: ${JSON.stringify(readFileSync(`${PAGE_DIR}/${name}`, 'utf8'))},`);
  return [
    `// Generated from ${PAGE_DIR}/ by scripts/inspector-page-assets.ts (\`npm run docs\`); do not edit.`,
    '',
    `/** A file of ${PAGE_DIR}/. */`,
    `export type PageFile = ${names.map((name) => JSON.stringify(name)).join(' | ')};`,
    '',
    `/** The files of ${PAGE_DIR}/, by name (src/inspector-page/page.ts puts them together). */`,
    'export const pageAssets: Readonly<Record<PageFile, string>> = {',
    ...entries,
    '};',
    '',
  ].join('\n');
}
