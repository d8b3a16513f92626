import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './scratch-project.ts';

/**
 * README.md's embedding example: the ```ts block between `<!-- embedding-example:start -->` and
 * `<!-- embedding-example:end -->`. The consumer test runs exactly this text, so the README
 * cannot drift from what works.
 */
export function readmeEmbeddingExample(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /<!-- embedding-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- embedding-example:end -->/.exec(readme);
  if (!block) throw new Error('README.md has no ```ts block between <!-- embedding-example:start --> and <!-- embedding-example:end -->');
  return block[1]!;
}
