import { describe, expect, it } from 'vitest';
import {
  buildSourceFiles,
  cycles,
  type LayerRule,
  layerViolations,
  readSourceTree,
  runtimeFolderGraph,
  scanImports,
} from './import-graph.ts';

/*
 * Layers import only downward. A runtime cycle between two files is oxlint's import/no-cycle
 * (npm run lint); this test holds the folder level, which no lint rule sees, and keeps the
 * machines pure: they may use the protocol, the utilities, XState and zod, and nothing above them.
 */

const MACHINES: LayerRule = { folder: 'src/machines', mayImport: ['src/protocol', 'src/util', 'xstate', 'zod'] };

describe('src/ layers', () => {
  const files = readSourceTree('src');

  it('the scan sees the tree: every file, every relative import resolved', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(files.find((file) => file.path === 'src/machines/auth.ts')?.imports.map((ref) => ref.specifier)).toContain('xstate');
    const unresolved = files.flatMap((file) =>
      file.imports
        // A JSON module (package.json, for the version) is data, not a node of the graph.
        .filter((ref) => ref.specifier.startsWith('.') && !ref.specifier.endsWith('.json') && ref.target === undefined)
        .map((ref) => `${file.path} → ${ref.specifier}`),
    );
    expect(unresolved).toEqual([]);
  });

  it('no two folders import each other at run time, directly or round a loop (import type aside)', () => {
    expect(cycles(runtimeFolderGraph(files))).toEqual([]);
  });

  it(`${MACHINES.folder}/ imports only ${MACHINES.mayImport.join(', ')}`, () => {
    expect(layerViolations(files, MACHINES)).toEqual([]);
  });
});

describe('the import checker', () => {
  it('reads imports, re-exports, side-effect and dynamic imports, and tells type-only ones', () => {
    const source = [
      "import { a, type B } from './a.ts';",
      "import type { C } from './c.ts';",
      "import { type D, type E } from './d.ts';",
      'import {',
      '  f,',
      '  g as h,',
      "} from './f.ts';",
      "import * as ns from 'xstate';",
      "import dflt, { type I } from './dflt.ts';",
      "export { j } from './j.ts';",
      "export type { K } from './k.ts';",
      "export * from './all.ts';",
      "import './side-effect.ts';",
      "const later = () => import('./lazy.ts');",
      "// import { commented } from './commented.ts';",
      " * await import('./in-a-doc-comment.ts')",
      "export const notAnImport = { from: 'x' };",
    ].join('\n');
    expect(scanImports(source)).toEqual([
      { specifier: './a.ts', typeOnly: false },
      { specifier: './c.ts', typeOnly: true },
      { specifier: './d.ts', typeOnly: true },
      { specifier: './f.ts', typeOnly: false },
      { specifier: 'xstate', typeOnly: false },
      { specifier: './dflt.ts', typeOnly: false },
      { specifier: './j.ts', typeOnly: false },
      { specifier: './k.ts', typeOnly: true },
      { specifier: './all.ts', typeOnly: false },
      { specifier: './side-effect.ts', typeOnly: false },
      { specifier: './lazy.ts', typeOnly: false },
    ]);
  });

  const tree = (sources: Record<string, string>) => buildSourceFiles(Object.entries(sources).map(([path, text]) => ({ path, text })));

  it('finds a folder cycle, through a third folder too, and not one made by import type', () => {
    const looped = tree({
      'src/a/one.ts': "import { two } from '../b/two.ts';",
      'src/b/two.ts': "import { three } from '../c/three.ts';",
      'src/c/three.ts': "import { one } from '../a/one.ts';",
      'src/d/four.ts': "import type { five } from '../e/five.ts';",
      'src/e/five.ts': "import { four } from '../d/four.ts';",
      'src/f/six.ts': "import { seven } from './g/seven.ts';",
      'src/f/g/seven.ts': "import { one } from '../../a/one.ts';",
    });
    expect(cycles(runtimeFolderGraph(looped))).toEqual([['src/a', 'src/b', 'src/c']]);
    expect(cycles(new Map([['x', new Set(['y'])]]))).toEqual([]);
    expect(
      cycles(
        new Map([
          ['x', new Set(['y'])],
          ['y', new Set(['x'])],
        ]),
      ),
    ).toEqual([['x', 'y']]);
  });

  it('resolves ./x.ts, ./x.js, ./x and ./x/index.ts', () => {
    const files = tree({
      'src/a/main.ts': [
        "import { b } from '../b/b.ts';",
        "import { c } from '../c/c.js';",
        "import { d } from '../d/d';",
        "import { e } from '../e';",
      ].join('\n'),
      'src/b/b.ts': '',
      'src/c/c.ts': '',
      'src/d/d.ts': '',
      'src/e/index.ts': '',
    });
    expect(files[0]!.imports.map((ref) => ref.target)).toEqual(['src/b/b.ts', 'src/c/c.ts', 'src/d/d.ts', 'src/e/index.ts']);
  });

  it('holds a layer to its folders and packages, type-only imports included', () => {
    const files = tree({
      'src/machines/m.ts': [
        "import { setup } from 'xstate';",
        "import { z } from 'zod';",
        "import { x } from './other.ts';",
        "import { codec } from '../protocol/codec.ts';",
        "import { clock } from '../util/clock.ts';",
        "import type { Settings } from '../settings/document.ts';",
        "import { readFileSync } from 'node:fs';",
        "import { Observable } from 'rxjs';",
        "import { gone } from '../nowhere.ts';",
      ].join('\n'),
      'src/machines/other.ts': '',
      'src/protocol/codec.ts': "import { socket } from '../actors/socket.ts';",
      'src/util/clock.ts': '',
      'src/settings/document.ts': '',
      'src/actors/socket.ts': '',
    });
    expect(layerViolations(files, MACHINES)).toEqual([
      'src/machines/m.ts → ../nowhere.ts',
      'src/machines/m.ts → ../settings/document.ts',
      'src/machines/m.ts → node:fs',
      'src/machines/m.ts → rxjs',
    ]);
  });
});
