import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fillSections, generatedFiles, generatedSections } from '../../scripts/docs.ts';

describe('generated docs are up to date (run `npm run docs` to refresh)', () => {
  it.each(Object.entries(generatedFiles()))('%s', (path, content) => {
    expect(existsSync(path), `${path} is missing`).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(content);
  });

  it('docs/protocol/ holds no schema of a message that no longer exists', () => {
    const expected = Object.keys(generatedFiles()).map((p) => p.replace('docs/protocol/', ''));
    expect(readdirSync('docs/protocol').sort()).toEqual(expected.sort());
  });

  it.each(Object.entries(generatedSections()))('sections of %s', (path, sections) => {
    const markdown = readFileSync(path, 'utf8');
    expect(fillSections(markdown, sections, path)).toBe(markdown);
  });
});
