import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONNECTOR_VERSION } from '../../src/connector/version.ts';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const built = new URL('../../dist/connector/version.js', import.meta.url);

describe('CONNECTOR_VERSION', () => {
  it('is the version in package.json', () => {
    expect(CONNECTOR_VERSION).toBe(packageVersion);
  });

  // The built file sits as deep under dist/ as the source under src/: the same path finds package.json.
  it('is the version in package.json from the built dist/ too', async () => {
    if (!existsSync(built)) throw new Error('dist/connector/version.js is missing: run `npm run build` (npm test does it first)');
    const { CONNECTOR_VERSION: fromDist } = (await import(built.href)) as { CONNECTOR_VERSION: string };
    expect(fromDist).toBe(packageVersion);
  });
});
