/*
 * The part of ELK's JSON graph (https://eclipse.dev/elk/documentation/tooldevelopers/graphdatastructure/jsonformat.html)
 * that src/inspector-page/layout.ts writes and reads. Declared here rather than imported from
 * `elkjs`, an optional package: the declarations the package ships must type-check where it is
 * not installed.
 */

/** A point in the coordinates of the edge's container. */
export interface ElkPoint {
  x: number;
  y: number;
}

/** A label; ELK sets `x` and `y`. */
export interface ElkLabel {
  text?: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}

/** A node; ELK sets `x`, `y` (relative to its parent) and, for compound nodes, `width` and `height`. */
export interface ElkNode {
  id: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  layoutOptions?: Record<string, string>;
  labels?: ElkLabel[];
  children?: ElkNode[];
  edges?: ElkExtendedEdge[];
}

/** One routed piece of an edge. */
export interface ElkEdgeSection {
  id: string;
  startPoint: ElkPoint;
  endPoint: ElkPoint;
  bendPoints?: ElkPoint[];
}

/** An edge; ELK sets `sections` and `container` (the node its coordinates are relative to). */
export interface ElkExtendedEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: ElkLabel[];
  sections?: ElkEdgeSection[];
  container?: string;
}
