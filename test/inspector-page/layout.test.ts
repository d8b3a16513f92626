import { describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { readStatechart } from '../../src/graph/statechart.ts';
import { layoutStatechart } from '../../src/inspector-page/layout.ts';
import { authMachine } from '../../src/machines/auth.ts';
import { channelMachine } from '../../src/machines/channel.ts';
import { connectionMachine } from '../../src/machines/connection.ts';
import { heartbeatMachine } from '../../src/machines/heartbeat.ts';
import { settingsSyncMachine } from '../../src/machines/settings-sync.ts';
import { supervisorMachine } from '../../src/machines/supervisor.ts';

const MACHINES: AnyStateMachine[] = [
  authMachine,
  connectionMachine,
  heartbeatMachine,
  channelMachine,
  settingsSyncMachine,
  supervisorMachine,
];

describe('statechart layout', () => {
  it.each(MACHINES.map((m) => [m.id, m] as const))('positions every state of %s, nested inside its parent', async (_id, machine) => {
    const chart = readStatechart(machine);
    const layout = await layoutStatechart(machine);
    const nodes = new Map(layout.nodes.map((n) => [n.path, n]));
    expect(layout.machine).toBe(machine.id);
    for (const state of chart.states.filter((s) => s.path !== '')) {
      const node = nodes.get(state.path);
      expect(node, state.path).toBeDefined();
      expect(node!.width).toBeGreaterThan(0);
      expect(node!.height).toBeGreaterThan(0);
      expect(node!.x + node!.width).toBeLessThanOrEqual(layout.width);
      expect(node!.y + node!.height).toBeLessThanOrEqual(layout.height);
      const parentPath = state.path.includes('.') ? state.path.slice(0, state.path.lastIndexOf('.')) : undefined;
      if (parentPath !== undefined) {
        const parent = nodes.get(parentPath)!;
        expect(node!.x).toBeGreaterThanOrEqual(parent.x);
        expect(node!.y).toBeGreaterThanOrEqual(parent.y);
        expect(node!.x + node!.width).toBeLessThanOrEqual(parent.x + parent.width);
        expect(node!.y + node!.height).toBeLessThanOrEqual(parent.y + parent.height);
        // Parents come first, so drawing in order nests the boxes.
        expect(layout.nodes.indexOf(parent)).toBeLessThan(layout.nodes.indexOf(node!));
      }
    }
  });

  it.each(MACHINES.map((m) => [m.id, m] as const))(
    'draws one edge per pair of states a transition of %s links, labelled with its events',
    async (_id, machine) => {
      const chart = readStatechart(machine);
      const layout = await layoutStatechart(machine);
      const edges = new Map(layout.edges.filter((e) => e.events.length > 0).map((e) => [`${e.source} -> ${e.target}`, e]));
      for (const t of chart.transitions.filter((t) => t.source !== '')) {
        for (const target of t.targets) {
          const edge = edges.get(`${t.source} -> ${target}`);
          expect(edge, `${t.source} -> ${target}`).toBeDefined();
          expect(edge!.events).toContain(t.event);
          expect(edge!.points.length).toBeGreaterThanOrEqual(2);
        }
      }
      // Every compound state's initial child gets an arrow from a dot.
      for (const state of chart.states.filter((s) => s.initial !== undefined)) {
        expect(layout.edges).toContainEqual(
          expect.objectContaining({ source: `${state.path}#initial`, target: state.initial, events: [] }),
        );
      }
    },
  );
});
