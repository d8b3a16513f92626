import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/*
 * The import graph of src/, read with regular expressions rather than a compiler (TypeScript 7
 * has no JavaScript API): enough for the project's own style, where every import and re-export
 * starts a line and names its module with a string literal.
 */

/** One `import`/`export … from`/`import()` in a file. */
export interface ImportRef {
  /** The module as written: `'../util/clock.ts'`, `'xstate'`, `'node:fs'`. */
  specifier: string;
  /** `import type`, `export type`, or braces whose every name is marked `type`: erased at build. */
  typeOnly: boolean;
}

/** A source file and what it imports; `target` is the repository path a relative import names. */
export interface SourceFile {
  path: string;
  imports: (ImportRef & { target?: string })[];
}

// Between `import`/`export` and `from`, only names, braces, commas, `*` and whitespace: the match
// cannot run on into the code of another statement.
const STATIC = /^[ \t]*(?:import|export)\s+(type\s+)?([\w$*\s,{}]*?)\s*from\s*['"]([^'"]+)['"]/gm;
const SIDE_EFFECT = /^[ \t]*import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /(?<![\w$.])import\(\s*['"]([^'"]+)['"]\s*\)/g;
const COMMENT_LINE = /^\s*(?:\/\/|\/\*|\*)/;

/** Every import and re-export in `source`, in order of kind (static, side-effect, dynamic). */
export function scanImports(source: string): ImportRef[] {
  const refs: ImportRef[] = [];
  for (const [, typeKeyword, clause = '', specifier = ''] of source.matchAll(STATIC)) {
    refs.push({ specifier, typeOnly: typeKeyword !== undefined || onlyTypeNames(clause) });
  }
  for (const [, specifier = ''] of source.matchAll(SIDE_EFFECT)) refs.push({ specifier, typeOnly: false });
  for (const line of source.split('\n')) {
    if (COMMENT_LINE.test(line)) continue;
    for (const [, specifier = ''] of line.matchAll(DYNAMIC)) refs.push({ specifier, typeOnly: false });
  }
  return refs;
}

/** `{ type A, type B }` with nothing outside the braces. */
function onlyTypeNames(clause: string): boolean {
  const braces = /^\{([^}]*)\}$/.exec(clause.trim());
  if (!braces) return false;
  const names = (braces[1] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  return names.length > 0 && names.every((name) => name.startsWith('type '));
}

/** Reads every `.ts` file under `root` (a repository-relative folder) and resolves its relative imports. */
export function readSourceTree(root: string): SourceFile[] {
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => ({ path: posix.join(root, name.split('\\').join('/')), text: readFileSync(join(root, name), 'utf8') }));
  return buildSourceFiles(files);
}

/** Resolves each file's relative imports against the other files (`./x.ts`, `./x.js`, `./x`, `./x/index.ts`). */
export function buildSourceFiles(files: readonly { path: string; text: string }[]): SourceFile[] {
  const paths = new Set(files.map((file) => file.path));
  const resolve = (from: string, specifier: string): string | undefined => {
    if (!specifier.startsWith('.')) return undefined;
    const base = posix.join(posix.dirname(from), specifier);
    return [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}/index.ts`].find((candidate) => paths.has(candidate));
  };
  return files.map((file) => ({
    path: file.path,
    imports: scanImports(file.text).map((ref) => {
      const target = resolve(file.path, ref.specifier);
      return target === undefined ? ref : { ...ref, target };
    }),
  }));
}

/** Folder → the other folders its files import at run time (a file's folder is its own directory). */
export function runtimeFolderGraph(files: readonly SourceFile[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const from = posix.dirname(file.path);
    for (const ref of file.imports) {
      if (ref.typeOnly || ref.target === undefined) continue;
      const to = posix.dirname(ref.target);
      if (to === from) continue;
      let targets = graph.get(from);
      if (!targets) graph.set(from, (targets = new Set()));
      targets.add(to);
    }
  }
  return graph;
}

/** The strongly connected groups of more than one node (Tarjan), each sorted, sorted by first member. */
export function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    if (group.length > 1) found.push(group.sort());
  };
  const nodes = new Set([...graph.keys(), ...[...graph.values()].flatMap((targets) => [...targets])]);
  for (const node of [...nodes].sort()) if (!index.has(node)) visit(node);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A folder whose files may import only from the listed folders and packages. */
export interface LayerRule {
  folder: string;
  /** Repository folders (their subfolders included) and package names (`node:` builtins by full name). */
  mayImport: readonly string[];
}

/**
 * Every import, type-only ones included (a type from an upper layer couples the layer to it all
 * the same), of a file under `rule.folder` that names neither a listed folder nor a listed package:
 * `path → specifier`.
 */
export function layerViolations(files: readonly SourceFile[], rule: LayerRule): string[] {
  const within = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);
  const allowed = (ref: SourceFile['imports'][number]): boolean => {
    if (ref.target !== undefined) return within(ref.target, rule.folder) || rule.mayImport.some((folder) => within(ref.target!, folder));
    if (ref.specifier.startsWith('.')) return false;
    return rule.mayImport.includes(packageName(ref.specifier));
  };
  return files
    .filter((file) => within(file.path, rule.folder))
    .flatMap((file) => file.imports.filter((ref) => !allowed(ref)).map((ref) => `${file.path} → ${ref.specifier}`))
    .sort();
}

/** `'@scope/pkg/sub'` → `'@scope/pkg'`, `'pkg/sub'` → `'pkg'`, `'node:fs/promises'` → `'node:fs'`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}
