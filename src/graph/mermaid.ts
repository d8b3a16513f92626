import type { Statechart, StateInfo, TransitionInfo } from './statechart.ts';

/**
 * Renders a statechart as a Mermaid `stateDiagram-v2`. Transitions that only ignore an event
 * (no target, no action) are left out; ones that act without changing state are drawn as loops.
 * Root-level transitions (handled in every state) are not drawn: list them beside the diagram.
 *
 * @example
 * const diagram = toMermaid(readStatechart(heartbeatMachine));
 */
export function toMermaid(chart: Statechart): string {
  const byPath = new Map(chart.states.map((s) => [s.path, s]));
  const keys = chart.states.map((s) => s.key);
  const unique = new Set(keys.filter((k) => keys.indexOf(k) === keys.lastIndexOf(k)));
  // Mermaid ids must be unique and dot-free: the key where it is unique, else the path.
  const idOf = (path: string) => {
    const state = byPath.get(path)!;
    return unique.has(state.key) ? state.key : path.replaceAll('.', '_');
  };
  const lines = ['stateDiagram-v2'];

  // A transition is drawn inside the innermost composite state that holds both ends.
  const drawn = chart.transitions.filter((t) => t.source !== '' && (t.targets.length > 0 || t.actions.length > 0));
  const commonParent = (a: string, b: string) => {
    const pa = a.split('.');
    const pb = b.split('.');
    let i = 0;
    while (i < pa.length - 1 && i < pb.length - 1 && pa[i] === pb[i]) i++;
    return pa.slice(0, i).join('.');
  };
  const edgesIn = new Map<string, string[]>();
  for (const t of drawn) {
    for (const target of t.targets.length > 0 ? t.targets : [t.source]) {
      const home = commonParent(t.source, target);
      const list = edgesIn.get(home) ?? [];
      list.push(`${idOf(t.source)} --> ${idOf(target)}: ${label(t)}`);
      edgesIn.set(home, list);
    }
  }

  const drawState = (state: StateInfo, indent: string) => {
    const id = idOf(state.path);
    if (state.children.length === 0) {
      lines.push(id === state.key ? `${indent}${id}` : `${indent}state "${state.key}" as ${id}`);
      return;
    }
    const isRoot = state.path === '';
    const inner = isRoot ? indent : `${indent}  `;
    if (!isRoot) lines.push(`${indent}state ${id} {`);
    if (state.initial) lines.push(`${inner}[*] --> ${idOf(state.initial)}`);
    state.children.forEach((child, i) => {
      // Regions of a parallel state are separated by `--` in Mermaid.
      if (state.type === 'parallel' && i > 0) lines.push(`${inner}--`);
      drawState(byPath.get(child)!, inner);
    });
    for (const edge of edgesIn.get(state.path) ?? []) lines.push(`${inner}${edge}`);
    if (!isRoot) lines.push(`${indent}}`);
    if (!isRoot && state.invokes.length > 0) lines.push(`${indent}note right of ${id}: invokes ${state.invokes.join(', ')}`);
  };
  drawState(byPath.get('')!, '  ');

  for (const state of chart.states) {
    if (state.type === 'final') lines.push(`  ${idOf(state.path)} --> [*]`);
  }
  return lines.join('\n');
}

function label(t: TransitionInfo): string {
  // Mermaid splits a label at ':' and chokes on '#' and ';'.
  return `${t.event}${t.guard ? ` [${t.guard}]` : ''}`.replace(/[:;#]/g, ' ');
}

/** Root-level transitions as Markdown table rows: what a machine handles in every state. */
export function rootTransitionsTable(chart: Statechart): string {
  const rows = chart.transitions.filter((t) => t.source === '');
  if (rows.length === 0) return '';
  return [
    '| event (any state) | guard | actions |',
    '|---|---|---|',
    ...rows.map((t) => `| \`${t.event}\` | ${t.guard ? `\`${t.guard}\`` : ''} | ${t.actions.map((a) => `\`${a}\``).join(', ')} |`),
  ].join('\n');
}
