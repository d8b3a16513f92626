// npm run docs: writes every generated doc (see scripts/docs.ts) and the inspector's generated
// modules (scripts/inspector-page-assets.ts, scripts/inspector-layouts.ts).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fillSections, generatedFiles, generatedSections } from './docs.ts';
import { LAYOUTS_MODULE, layoutsModule } from './inspector-layouts.ts';
import { PAGE_ASSETS_MODULE, pageAssetsModule } from './inspector-page-assets.ts';

for (const [path, content] of Object.entries(generatedFiles())) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}
for (const [path, sections] of Object.entries(generatedSections())) {
  writeFileSync(path, fillSections(readFileSync(path, 'utf8'), sections, path));
}
writeFileSync(PAGE_ASSETS_MODULE, pageAssetsModule());
writeFileSync(LAYOUTS_MODULE, await layoutsModule());
console.log('docs generated');
