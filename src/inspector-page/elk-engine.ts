import { importOptional } from '../util/optional-package.ts';
import type { ElkNode } from './elk-graph.ts';

interface Elk {
  layout(graph: ElkNode): Promise<ElkNode>;
}

let engine: Promise<Elk> | undefined;

/**
 * Lays a graph out with ELK (`elkjs`, an optional package), loaded on first use. The connector's
 * own statecharts never come here (src/inspector-page/precomputed.ts has them); only a chart without a
 * precomputed layout does, once per machine.
 *
 * ELK runs on the calling thread: a worker needs a file beside this module, which neither
 * `dist/` (tsc emits none) nor a host's bundle has (docs/inspector.md, "Layouts").
 *
 * @throws {MissingPackageError} when `elkjs` is not installed (src/util/optional-package.ts).
 * @example
 * const laid = await elkLayout({ id: 'root', layoutOptions: { 'elk.algorithm': 'layered' }, children, edges });
 */
export async function elkLayout(graph: ElkNode): Promise<ElkNode> {
  engine ??= loadElk();
  // A failed load is not cached: installing the package makes the next chart work.
  const elk = await engine.catch((error: unknown) => {
    engine = undefined;
    throw error;
  });
  return elk.layout(graph);
}

async function loadElk(): Promise<Elk> {
  // The bundled build has no worker of its own and needs no other file of the package.
  const loaded: { default: unknown } = await importOptional(
    'elkjs',
    'the inspector needs it to lay out a statechart that has no precomputed layout',
    () => import('elkjs/lib/elk.bundled.js'),
  );
  // Node's ES import gives module.exports as `default`; a bundle's CommonJS interop may wrap it once more.
  const exported = loaded.default as { default?: unknown };
  const ELK = (typeof exported === 'function' ? exported : exported.default) as new () => Elk;
  return new ELK();
}
