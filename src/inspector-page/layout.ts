import type { AnyStateMachine } from 'xstate';
import { readStatechart, type StateInfo, type Statechart } from '../graph/statechart.ts';
import type { ChartLayout, LaidOutEdge, LaidOutNode } from './chart-layout.ts';
import { elkLayout } from './elk-engine.ts';
import type { ElkExtendedEdge, ElkNode } from './elk-graph.ts';
import { precomputedLayout } from './precomputed.ts';

/** Monospace metrics the page draws with (12 px state labels, 11 px edge labels); see page/inspector.css. */
const STATE_CHAR = 7.3;
const EDGE_CHAR = 6.7;
const EDGE_LINE = 14;
const STATE_HEIGHT = 28;
const COMPOUND_TOP = 30;
const INITIAL_SIZE = 10;

const ROOT_OPTIONS = {
  'elk.algorithm': 'layered',
  // Edges between nesting levels (online.connected → retrying) are routed by one layout run.
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  // Left to right reads as a lifecycle (online → retrying → disconnected → …) and keeps charts
  // short enough to fit the page's height; the page scrolls sideways to the active state.
  'elk.direction': 'RIGHT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '32',
  'elk.spacing.nodeNode': '24',
  'elk.spacing.edgeNode': '14',
  'elk.spacing.edgeEdge': '10',
  'elk.spacing.edgeLabel': '4',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.padding': '[top=12,left=12,bottom=12,right=12]',
};
const COMPOUND_OPTIONS = { 'elk.padding': `[top=${COMPOUND_TOP},left=14,bottom=14,right=14]` };

/**
 * A machine's statechart laid out (layered, compound states as nested boxes), in absolute
 * coordinates. Transitions that change nothing (no target) are left out; transitions between the
 * same two states are merged into one edge listing their events.
 *
 * The connector's own machines get the layout computed at development time
 * (src/inspector-page/layouts.generated.ts) when their chart is the one it was computed from; any
 * other chart is laid out now by {@link layoutChart}, which needs `elkjs`.
 *
 * @throws {MissingPackageError} for a chart without a precomputed layout when `elkjs` is not installed.
 * @example
 * const layout = await layoutStatechart(connectionMachine);
 * layout.nodes.find((n) => n.path === 'online.connected'); // { x, y, width, height, … }
 */
export async function layoutStatechart(machine: AnyStateMachine): Promise<ChartLayout> {
  const chart = readStatechart(machine);
  return precomputedLayout(chart) ?? layoutChart(chart);
}

/**
 * Lays a chart out with ELK, always (scripts/inspector-layouts.ts precomputes with it);
 * `overrides` are ELK options over ours (another direction, other spacing).
 *
 * @throws {MissingPackageError} when `elkjs` is not installed.
 */
export async function layoutChart(chart: Statechart, overrides: Record<string, string> = {}): Promise<ChartLayout> {
  const byPath = new Map(chart.states.map((s) => [s.path, s]));
  const root = byPath.get('');
  const graph: ElkNode = { id: nodeId(''), layoutOptions: { ...ROOT_OPTIONS, ...overrides }, children: [], edges: [] };
  const edges: ElkExtendedEdge[] = [];
  const meta = new Map<string, Pick<LaidOutEdge, 'source' | 'target' | 'events' | 'details'>>();

  const build = (state: StateInfo): ElkNode => {
    if (state.children.length === 0) {
      return { id: nodeId(state.path), width: Math.max(64, Math.ceil(state.key.length * STATE_CHAR) + 24), height: STATE_HEIGHT };
    }
    const children = state.children.map((path) => build(byPath.get(path)!));
    if (state.initial !== undefined) addInitial(state.path, state.initial, children);
    const minWidth = Math.ceil(state.key.length * STATE_CHAR) + 28;
    return {
      id: nodeId(state.path),
      layoutOptions: {
        ...COMPOUND_OPTIONS,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${minWidth},${COMPOUND_TOP + 20})`,
      },
      children,
    };
  };
  const addInitial = (parent: string, initial: string, siblings: ElkNode[]) => {
    const id = `${parent}#initial`;
    siblings.unshift({ id: nodeId(id), width: INITIAL_SIZE, height: INITIAL_SIZE });
    edges.push({ id: `e${edges.length}`, sources: [nodeId(id)], targets: [nodeId(initial)] });
    meta.set(`e${edges.length - 1}`, { source: id, target: initial, events: [], details: [] });
  };

  if (root) {
    graph.children = root.children.map((path) => build(byPath.get(path)!));
    if (root.initial !== undefined) addInitial('', root.initial, graph.children);
  }
  // One edge per (source, target): its label lists every event that takes it.
  const merged = new Map<string, { source: string; target: string; events: Set<string>; details: Set<string> }>();
  for (const t of chart.transitions) {
    for (const target of t.targets) {
      if (t.source === '') continue; // declared on the machine itself: no box to start from (none of ours has one)
      const key = `${t.source}\u0000${target}`;
      const entry = merged.get(key) ?? { source: t.source, target, events: new Set<string>(), details: new Set<string>() };
      entry.events.add(t.event);
      entry.details.add(t.guard === undefined ? t.event : `${t.event} [${t.guard}]`);
      merged.set(key, entry);
    }
  }
  for (const { source, target, events, details } of merged.values()) {
    const id = `e${edges.length}`;
    const lines = [...events];
    edges.push({
      id,
      sources: [nodeId(source)],
      targets: [nodeId(target)],
      labels: [
        {
          text: lines.join('\n'),
          width: Math.ceil(Math.max(...lines.map((l) => l.length)) * EDGE_CHAR) + 6,
          height: lines.length * EDGE_LINE,
        },
      ],
    });
    meta.set(id, { source, target, events: lines, details: [...details] });
  }
  graph.edges = edges;

  const laid = await elkLayout(graph);
  return flatten(chart.id, laid, meta, new Map(chart.states.map((s) => [s.path, s.type])));
}

/** Absolute coordinates: ELK gives children relative to their parent, edges relative to their container. */
function flatten(
  machine: string,
  laid: ElkNode,
  meta: Map<string, Pick<LaidOutEdge, 'source' | 'target' | 'events' | 'details'>>,
  kinds: Map<string, StateInfo['type']>,
): ChartLayout {
  const nodes: LaidOutNode[] = [];
  const origin = new Map<string, [number, number]>([[laid.id, [0, 0]]]);
  const visit = (node: ElkNode, depth: number, [ox, oy]: [number, number]) => {
    for (const child of node.children ?? []) {
      const x = ox + (child.x ?? 0);
      const y = oy + (child.y ?? 0);
      origin.set(child.id, [x, y]);
      const path = pathOf(child.id);
      const initial = path.endsWith('#initial');
      nodes.push({
        path,
        key: initial ? '' : (path.split('.').pop() ?? path),
        kind: initial ? 'initial' : (kinds.get(path) ?? 'atomic'),
        depth,
        x: round(x),
        y: round(y),
        width: round(child.width ?? 0),
        height: round(child.height ?? 0),
      });
      visit(child, depth + 1, [x, y]);
    }
  };
  visit(laid, 0, [0, 0]);
  const edges: LaidOutEdge[] = [];
  for (const edge of laid.edges ?? []) {
    const info = meta.get(edge.id);
    const section = edge.sections?.[0];
    if (!info || !section) continue;
    const [ox, oy] = origin.get(edge.container ?? laid.id) ?? [0, 0];
    const at = (p: { x: number; y: number }): [number, number] => [round(ox + p.x), round(oy + p.y)];
    const label = edge.labels?.[0];
    edges.push({
      id: edge.id,
      ...info,
      points: [at(section.startPoint), ...(section.bendPoints ?? []).map(at), at(section.endPoint)],
      ...(label && {
        label: { x: round(ox + (label.x ?? 0)), y: round(oy + (label.y ?? 0)), width: label.width ?? 0, height: label.height ?? 0 },
      }),
    });
  }
  return { machine, width: round(laid.width ?? 0), height: round(laid.height ?? 0), nodes, edges };
}

// ELK ids must not be empty (the root state's path is '').
function nodeId(path: string): string {
  return `s:${path}`;
}

function pathOf(id: string): string {
  return id.slice(2);
}

const round = (n: number) => Math.round(n * 10) / 10;
