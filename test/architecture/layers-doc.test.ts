import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSourceFiles, readSourceTree, type SourceFile } from './import-graph.ts';

/*
 * docs/architecture.md draws the layers of src/ and says what each may import. This test holds
 * the code to that page and the page to the code: an import that goes up fails here, so either
 * the import or the page changes.
 */

const DOC = 'docs/architecture.md';

/** One row of the page's layer table. */
interface Layer {
  name: string;
  /** Repository folders; each covers its sub-folders, except `src`, which is only its own files. */
  folders: string[];
  /** The layers this one's arrows point to. */
  mayImport: string[];
}

const backticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!);

/** The table under the header `| layer | folders | what lives there | may import |`, bottom layer first. */
function layerTable(markdown: string): Layer[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*layer\s*\|\s*folders\s*\|.*\|\s*may import\s*\|$/.test(line.trim()));
  if (header === -1) throw new Error(`${DOC} has no layer table`);
  const rows: Layer[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [name = '', folders = '', , mayImport = ''] = line.split('|').slice(1, -1);
    rows.push({ name: backticked(name)[0] ?? name.trim(), folders: backticked(folders), mayImport: backticked(mayImport) });
  }
  return rows;
}

/** The `a --> b` arrows of the page's Mermaid chart. */
function chartArrows(markdown: string): string[] {
  const chart = /```mermaid\n([\s\S]*?)```/.exec(markdown)?.[1];
  if (chart === undefined) throw new Error(`${DOC} has no Mermaid chart`);
  return [...chart.matchAll(/^\s*(\w+)\s*-->\s*(\w+)\s*$/gm)].map(([, from, to]) => `${from} --> ${to}`);
}

/** The layer a folder of src/ belongs to: the row naming the longest folder that covers it. */
function layerOf(layers: readonly Layer[], folder: string): Layer | undefined {
  let best: { layer: Layer; length: number } | undefined;
  for (const layer of layers) {
    for (const listed of layer.folders) {
      const covers = folder === listed || (listed !== 'src' && folder.startsWith(`${listed}/`));
      if (covers && listed.length > (best?.length ?? -1)) best = { layer, length: listed.length };
    }
  }
  return best?.layer;
}

/** Each layer's name → the layers it reaches by its arrows, directly or through others. */
function reachable(layers: readonly Layer[]): Map<string, Set<string>> {
  const byName = new Map(layers.map((layer) => [layer.name, layer]));
  const reach = new Map<string, Set<string>>();
  for (const layer of layers) {
    const seen = new Set<string>();
    const walk = (name: string): void => {
      for (const next of byName.get(name)?.mayImport ?? []) {
        if (seen.has(next)) continue;
        seen.add(next);
        walk(next);
      }
    };
    walk(layer.name);
    reach.set(layer.name, seen);
  }
  return reach;
}

/**
 * Every import between src/ folders, type-only ones included, whose target is neither in the
 * importer's own layer nor in one its arrows reach: `path → specifier (from → to)`.
 */
function importsAgainstLayers(files: readonly SourceFile[], layers: readonly Layer[]): string[] {
  const reach = reachable(layers);
  const found: string[] = [];
  for (const file of files) {
    const from = layerOf(layers, posix.dirname(file.path));
    for (const ref of file.imports) {
      if (ref.target === undefined) continue;
      const to = layerOf(layers, posix.dirname(ref.target));
      if (from === undefined || to === undefined || from === to || reach.get(from.name)?.has(to.name)) continue;
      found.push(`${file.path} → ${ref.specifier} (${from.name} → ${to.name})`);
    }
  }
  return found.sort();
}

describe(`${DOC} holds the layers of src/`, () => {
  const markdown = readFileSync(DOC, 'utf8');
  const layers = layerTable(markdown);
  const files = readSourceTree('src');

  it('reads the table: base first, the entries last', () => {
    expect(layers.length).toBeGreaterThanOrEqual(5);
    expect(layers[0]!.folders).toContain('src/util');
    expect(layers.at(-1)!.folders).toContain('src');
  });

  it('the chart draws exactly the arrows of the table, each to a layer listed before it', () => {
    const fromTable = layers.flatMap((layer) => layer.mayImport.map((to) => `${layer.name} --> ${to}`));
    expect(chartArrows(markdown).sort()).toEqual(fromTable.sort());
    const order = layers.map((layer) => layer.name);
    const upward = layers.flatMap((layer) =>
      layer.mayImport
        .filter((to) => !(order.indexOf(to) >= 0 && order.indexOf(to) < order.indexOf(layer.name)))
        .map((to) => `${layer.name} → ${to}`),
    );
    expect(upward).toEqual([]);
  });

  it('every folder of src/ is in exactly one layer, and every folder the table names exists', () => {
    const listed = layers.flatMap((layer) => layer.folders);
    expect(listed.filter((folder) => !existsSync(folder))).toEqual([]);
    expect(listed.filter((folder, i) => listed.indexOf(folder) !== i)).toEqual([]);
    const folders = [...new Set(files.map((file) => posix.dirname(file.path)))];
    expect(folders.filter((folder) => layerOf(layers, folder) === undefined)).toEqual([]);
  });

  it('every import between folders goes to the same layer or one the arrows reach', () => {
    expect(importsAgainstLayers(files, layers)).toEqual([]);
  });

  it('every file and folder the page names exists', () => {
    const named = [...markdown.matchAll(/(?<![\w./-])(?:src|test|docs|bench|scripts)\/[\w./-]*\w/g)].map(([path]) => path);
    expect(named.length).toBeGreaterThan(20);
    expect([...new Set(named)].filter((path) => !existsSync(path))).toEqual([]);
  });
});

describe('the layer check', () => {
  const layers: Layer[] = [
    { name: 'base', folders: ['src/util'], mayImport: [] },
    { name: 'protocol', folders: ['src/protocol'], mayImport: ['base'] },
    { name: 'io', folders: ['src/adapters'], mayImport: ['base'] },
    { name: 'connector', folders: ['src/connector'], mayImport: ['protocol', 'io'] },
    { name: 'entries', folders: ['src'], mayImport: ['connector'] },
  ];
  const tree = (sources: Record<string, string>) => buildSourceFiles(Object.entries(sources).map(([path, text]) => ({ path, text })));

  it('passes imports down the arrows, through other layers, and within a layer', () => {
    const files = tree({
      'src/index.ts': "import { c } from './connector/c.ts';\nimport { clock } from './util/clock.ts';",
      'src/connector/c.ts': "import { codec } from '../protocol/codec.ts';\nimport { d } from './d.ts';",
      'src/connector/d.ts': '',
      'src/protocol/codec.ts': "import { clock } from '../util/clock.ts';",
      'src/util/clock.ts': '',
    });
    expect(importsAgainstLayers(files, layers)).toEqual([]);
  });

  it('fails an import up the layers, across to a sibling, and a type-only one', () => {
    const files = tree({
      'src/util/clock.ts': "import { c } from '../connector/c.ts';",
      'src/protocol/codec.ts': "import type { Socket } from '../adapters/socket.ts';",
      'src/adapters/socket.ts': "import { run } from '../index.ts';",
      'src/connector/c.ts': '',
      'src/index.ts': '',
    });
    expect(importsAgainstLayers(files, layers)).toEqual([
      'src/adapters/socket.ts → ../index.ts (io → entries)',
      'src/protocol/codec.ts → ../adapters/socket.ts (protocol → io)',
      'src/util/clock.ts → ../connector/c.ts (base → connector)',
    ]);
  });

  it('puts a sub-folder in the layer of its parent, and a new top folder in none', () => {
    expect(layerOf(layers, 'src/connector/parts')?.name).toBe('connector');
    expect(layerOf(layers, 'src')?.name).toBe('entries');
    expect(layerOf(layers, 'src/elsewhere')).toBeUndefined();
  });

  it('reads a table and a chart in the page format', () => {
    const page = [
      '```mermaid',
      'flowchart TD',
      '  top["top<br/>src/top"]',
      '  top --> low',
      '```',
      '',
      '| layer | folders | what lives there | may import |',
      '|---|---|---|---|',
      '| `low` | `src/low`, `src/also` | low things | nothing of ours |',
      '| `top` | `src/top` | top things | `low` |',
      '',
      'after',
    ].join('\n');
    expect(layerTable(page)).toEqual([
      { name: 'low', folders: ['src/low', 'src/also'], mayImport: [] },
      { name: 'top', folders: ['src/top'], mayImport: ['low'] },
    ]);
    expect(chartArrows(page)).toEqual(['top --> low']);
  });
});
