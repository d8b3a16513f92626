import type { StateInfo } from '../graph/statechart.ts';

/** A state box (or an initial-state dot) with its absolute position in the chart. */
export interface LaidOutNode {
  /** The state's dotted path (`online.connected`); an initial dot is `<parent path>#initial`. */
  path: string;
  /** The state's own key (`connected`); empty for an initial dot. */
  key: string;
  kind: StateInfo['type'] | 'initial';
  /** Nesting level: 0 for a top-level state. */
  depth: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Every transition from one state to another, drawn as one edge. */
export interface LaidOutEdge {
  id: string;
  source: string;
  target: string;
  /** Distinct events that take it (`socket.closed`, `after retryDelay`); empty for an initial arrow. */
  events: string[];
  /** The events with their guards, for a tooltip. */
  details: string[];
  /** Absolute polyline: start, bends, end. */
  points: Array<[number, number]>;
  /** Where the label goes (its top-left corner), when it has one. */
  label?: { x: number; y: number; width: number; height: number };
}

/** A machine's statechart, positioned: all the page has to do is draw it. */
export interface ChartLayout {
  machine: string;
  width: number;
  height: number;
  /** Parents before children, so drawing in order nests the boxes. */
  nodes: LaidOutNode[];
  edges: LaidOutEdge[];
}
