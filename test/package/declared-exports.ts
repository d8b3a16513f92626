import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * The names a module declares as exported, types included, read from its text: `export { … }`
 * lists (with or without `from`), `export *` (followed into relative modules), and `export`
 * declarations (`const`, `function`, `class`, `interface`, `type`, `enum`, with or without
 * `declare`). Works on the sources (`.ts`) and on the emitted declarations (`.d.ts`), whose
 * relative specifiers still end in `.ts` (tsconfig.types.json).
 *
 * A runtime import lists only values; this is how a review sees a type enter or leave the
 * surface. test/package/surface.test.ts checks that every runtime export is among these names,
 * so a construct this reader missed shows up as a failure, not as a silent gap.
 *
 * @example
 * declaredExports('src/index.ts'); // Set { 'createConnector', 'Connector', … }
 */
export function declaredExports(file: string, seen: Set<string> = new Set()): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const text = stripComments(readFileSync(file, 'utf8'));
  for (const [, list] of text.matchAll(/\bexport\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const specifier of list!.split(',')) {
      const name = specifier
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()!
        .trim();
      if (name) names.add(name);
    }
  }
  for (const [, from] of text.matchAll(/\bexport\s+\*\s+from\s*['"]([^'"]+)['"]/g)) {
    if (!from!.startsWith('.')) throw new Error(`${file}: export * from a package (${from}) cannot be listed`);
    for (const name of declaredExports(resolveModule(file, from!), seen)) names.add(name);
  }
  const declaration =
    /^\s*export\s+(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:const\s+enum|const|let|var|function\*?|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/gm;
  for (const [, name] of text.matchAll(declaration)) names.add(name!);
  return names;
}

/** A relative specifier as the file it names: `.ts` in the sources, `.d.ts` beside emitted declarations. */
function resolveModule(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier).replace(/\.(ts|js)$/, '');
  const candidates = from.endsWith('.d.ts') ? [`${base}.d.ts`] : [`${base}.ts`];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`${from}: cannot find ${specifier} (tried ${candidates.join(', ')})`);
  return found;
}

/** Block comments (TSDoc examples show `export` lines) and whole-line `//` comments. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}
