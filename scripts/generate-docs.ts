// npm run docs: writes every generated doc (see scripts/docs.ts).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fillSections, generatedFiles, generatedSections } from './docs.ts';

for (const [path, content] of Object.entries(generatedFiles())) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}
for (const [path, sections] of Object.entries(generatedSections())) {
  writeFileSync(path, fillSections(readFileSync(path, 'utf8'), sections, path));
}
console.log('docs generated');
