import type { AnyStateMachine, AnyStateNode, InspectionEvent } from 'xstate';

/** Names one transition of a definition: source state, event, and its place among its siblings. */
function keyOf(source: AnyStateNode, eventType: string, index: number): string {
  return `${source.id} | ${eventType === '' ? 'always' : eventType} #${index}`;
}

function transitionsOf(node: AnyStateNode): Array<{ key: string; definition: { eventType: string; source: AnyStateNode } }> {
  const out: Array<{ key: string; definition: { eventType: string; source: AnyStateNode } }> = [];
  for (const [eventType, list] of node.transitions) {
    (list as Array<{ eventType: string; source: AnyStateNode }>).forEach((t, i) => out.push({ key: keyOf(node, eventType, i), definition: t }));
  }
  (node.always ?? []).forEach((t: { eventType: string; source: AnyStateNode }, i: number) => out.push({ key: keyOf(node, '', i), definition: t }));
  for (const child of Object.values(node.states) as AnyStateNode[]) out.push(...transitionsOf(child));
  return out;
}

/**
 * Counts which transitions of a machine ran, from `@xstate.microstep` inspection events.
 * Transitions are matched by source state, event and position rather than identity, so a
 * machine made with `.provide()` (a copy of the definition) counts against the original.
 */
export function createTransitionCoverage(machine: AnyStateMachine, actorId: string) {
  const all = new Set(transitionsOf(machine.root).map((t) => t.key));
  const covered = new Set<string>();
  return {
    inspect(event: InspectionEvent): void {
      if (event.type !== '@xstate.microstep' || (event.actorRef as { id?: string }).id !== actorId) return;
      for (const t of (event as { _transitions?: Array<{ eventType: string; source: AnyStateNode }> })._transitions ?? []) {
        const siblings = t.eventType === '' ? (t.source.always ?? []) : (t.source.transitions.get(t.eventType) ?? []);
        const index = siblings.findIndex((s: { eventType: string; guard?: unknown; target?: unknown }) => s === t || (s.eventType === t.eventType && s.guard === (t as { guard?: unknown }).guard && s.target === (t as { target?: unknown }).target));
        covered.add(keyOf(t.source, t.eventType, Math.max(0, index)));
      }
    },
    get total() {
      return all.size;
    },
    get covered() {
      return [...covered].filter((k) => all.has(k)).length;
    },
    uncovered: () => [...all].filter((k) => !covered.has(k)),
  };
}
