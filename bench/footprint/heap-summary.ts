/**
 * What a heap snapshot is made of, by package: the source text, bytecode and closures of each
 * package's modules (from each function's script), and the heap the zod schemas retain (from
 * the dominator tree). For the footprint benchmark's snapshots (the connector probe writes one,
 * of the installed package):
 *
 *   BENCH_HEAP_SNAPSHOT=/tmp/connector.heapsnapshot npm run bench -- footprint --smoke
 *   npx tsx bench/footprint/heap-summary.ts /tmp/connector.heapsnapshot
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The snapshot as a graph: node `i`'s type, name, size and outgoing edges. */
function graph(s: Snapshot) {
  const { meta } = s.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const count = s.nodes.length / nf;
  const first = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    first[i] = e;
    e += s.nodes[i * nf + 4]! * ef;
    first[i + 1] = e;
  }
  const edgeType = (e: number) => meta.edge_types[0][s.edges[e]!]!;
  return {
    count,
    type: (i: number) => meta.node_types[0][s.nodes[i * nf]!]!,
    name: (i: number) => s.strings[s.nodes[i * nf + 1]!]!,
    size: (i: number) => s.nodes[i * nf + 3]!,
    *edges(i: number): Generator<{ to: number; name: string | number; weak: boolean }> {
      for (let e = first[i]!; e < first[i + 1]!; e += ef) {
        const type = edgeType(e);
        const label = s.edges[e + 1]!;
        yield {
          to: s.edges[e + 2]! / nf,
          name: type === 'element' || type === 'hidden' ? label : s.strings[label]!,
          weak: type === 'weak' || type === 'shortcut',
        };
      }
    },
  };
}
type Graph = ReturnType<typeof graph>;

/** `zod`, `@statelyai/inspect`, `src/machines`, `node:net`: who a script URL belongs to. */
function owner(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const [scope, name, dir, sub] = url.slice(modules + 13).split('/');
    // The installed package, by its folder under dist/ (as src/ below).
    if (scope === 'cloudtether' && name === 'dist') return sub ? `cloudtether/${dir}` : 'cloudtether';
    return scope!.startsWith('@') ? `${scope}/${name}` : scope!;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return `src/${url.slice(src + 5).split('/')[0]}`;
  return url.startsWith('node:') ? 'node internals' : '(other)';
}

/** Bytes of source text, compiled code and closures per package. Each node counts once, for the first script that reaches it. */
function codeByOwner(g: Graph): Map<string, number> {
  const claimed = new Uint8Array(g.count);
  const totals = new Map<string, number>();
  const claim = (i: number, who: string, depth: number): void => {
    if (claimed[i]) return;
    claimed[i] = 1;
    totals.set(who, (totals.get(who) ?? 0) + g.size(i));
    if (depth > 0) for (const edge of g.edges(i)) if (['code', 'array', 'hidden'].includes(g.type(edge.to))) claim(edge.to, who, depth - 1);
  };
  const scripts = new Map<number, string>();
  for (let i = 0; i < g.count; i++) {
    if (g.type(i) !== 'code') continue;
    const edges = [...g.edges(i)];
    const source = edges.find((e) => e.name === 'source');
    const url = edges.find((e) => e.name === 'name');
    if (!source || !url) continue;
    const who = owner(g.name(url.to));
    scripts.set(i, who);
    claim(i, who, 0);
    // Its source text, and the source map tsx appends as a data: URL.
    for (const edge of edges) if (g.type(edge.to) === 'string') claim(edge.to, who, 0);
  }
  const functions = new Map<number, string>();
  for (let i = 0; i < g.count; i++) {
    if (g.type(i) !== 'code') continue;
    for (const edge of g.edges(i))
      if (edge.name === 'script_or_debug_info' && scripts.has(edge.to)) functions.set(i, scripts.get(edge.to)!);
  }
  for (const [shared, who] of functions) claim(shared, who, 3);
  for (let i = 0; i < g.count; i++) {
    if (g.type(i) !== 'closure') continue;
    for (const edge of g.edges(i)) if (edge.name === 'shared' && functions.has(edge.to)) claim(i, functions.get(edge.to)!, 2);
  }
  return totals;
}

/** Immediate dominators (Cooper, Harvey, Kennedy), from the root, ignoring weak edges; -1 where unreachable. */
function dominators(g: Graph): { idom: Int32Array; postorder: number[] } {
  const seen = new Uint8Array(g.count);
  const postorder: number[] = [];
  const stack: Array<{ node: number; edges: ReturnType<Graph['edges']> }> = [{ node: 0, edges: g.edges(0) }];
  seen[0] = 1;
  const predecessors: number[][] = Array.from({ length: g.count }, () => []);
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    const next = top.edges.next();
    if (next.done) {
      postorder.push(top.node);
      stack.pop();
    } else if (!next.value.weak) {
      predecessors[next.value.to]!.push(top.node);
      if (!seen[next.value.to]) {
        seen[next.value.to] = 1;
        stack.push({ node: next.value.to, edges: g.edges(next.value.to) });
      }
    }
  }
  const rank = new Int32Array(g.count).fill(-1);
  postorder.forEach((node, i) => (rank[node] = i));
  const idom = new Int32Array(g.count).fill(-1);
  idom[0] = 0;
  const meet = (a: number, b: number) => {
    while (a !== b) {
      while (rank[a]! < rank[b]!) a = idom[a]!;
      while (rank[b]! < rank[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let i = postorder.length - 2; i >= 0; i--) {
      const node = postorder[i]!;
      let dom = -1;
      for (const p of predecessors[node]!) if (idom[p] !== -1) dom = dom === -1 ? p : meet(p, dom);
      if (dom !== -1 && idom[node] !== dom) {
        idom[node] = dom;
        changed = true;
      }
    }
  }
  return { idom, postorder };
}

/** Schemas (objects with a `_zod` internals object) and the heap the outermost of them retain. */
function zodRetained(g: Graph): { schemas: number; bytes: number } {
  const { idom, postorder } = dominators(g);
  const retained = new Float64Array(g.count);
  for (const node of postorder) {
    retained[node]! += g.size(node);
    if (node !== 0) retained[idom[node]!]! += retained[node]!;
  }
  const schema = new Uint8Array(g.count);
  for (let i = 0; i < g.count; i++) {
    if (g.type(i) === 'object' && [...g.edges(i)].some((e) => e.name === '_zod' && g.name(e.to) === 'Internals')) schema[i] = 1;
  }
  let schemas = 0;
  let bytes = 0;
  for (let i = 0; i < g.count; i++) {
    if (!schema[i] || idom[i] === -1) continue;
    schemas += 1;
    let up = idom[i]!;
    while (up !== 0 && !schema[up]) up = idom[up]!;
    if (up === 0) bytes += retained[i]!;
  }
  return { schemas, bytes };
}

const file = process.argv[2];
if (!file) throw new Error('usage: heap-summary.ts <file.heapsnapshot>');
const g = graph(JSON.parse(readFileSync(file, 'utf8')) as Snapshot);
const KiB = (bytes: number) => `${(bytes / 1024).toFixed(0).padStart(7)} KiB`;
let total = 0;
for (let i = 0; i < g.count; i++) total += g.size(i);
console.log(`${file}: ${(total / 2 ** 20).toFixed(2)} MiB in ${g.count} nodes`);
console.log('source text, code and closures, by package:');
for (const [who, bytes] of [...codeByOwner(g)].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${KiB(bytes)}  ${who}`);
const zod = zodRetained(g);
console.log(`zod schemas: ${zod.schemas}, retaining ${KiB(zod.bytes).trim()} (outermost schemas' dominator subtrees)`);
