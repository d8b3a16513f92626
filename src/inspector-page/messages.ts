import type { ConnectorStatus } from '../status/connector-status.ts';
import type { InspectedActor } from '../inspection-events/stream.ts';
import type { ChartLayout } from './chart-layout.ts';

/** One transition as the page lists it. */
export interface TransitionRow {
  /** Order of arrival; the page drops what its snapshot already had. */
  seq: number;
  /** The connector's clock (epoch ms). */
  at: number;
  /** The actor's path (`supervisor/connection`). */
  actor: string;
  from: string[];
  to: string[];
  /** The event's type only: its payload may be large, and the page shows one line. */
  event: string;
  reason?: string;
}

/** A change of the actor tree, in order with the transitions. */
export type TreeRecord =
  | { kind: 'actor'; seq: number; at: number; actor: InspectedActor }
  | { kind: 'actor.stopped'; seq: number; at: number; actor: string; status: 'done' | 'error' | 'stopped' }
  | ({ kind: 'transition' } & TransitionRow);

/** The connector's status, plus the wall time (epoch ms) of the pending retry, for a countdown. */
export type StatusView = ConnectorStatus & { connection: ConnectorStatus['connection'] & { retryAt?: number } };

/** `connector.executions`, bounded: the first ids of a long queue and how many there are. */
export interface ExecutionsView {
  running: number;
  queued: number;
  maxConcurrency: number;
  maxQueue: number;
  saturated: boolean;
  active: string[];
  activeCount: number;
  outboxDepth: number;
  /** Messages for the hub held in memory while the store fails (`connector.executions.waitingForStorage`). */
  waitingForStorage: number;
}

/** A statechart the server could not lay out, and why (the page shows it in the chart's place). */
export interface ChartError {
  machine: string;
  /** One line for a person: `elkjs is not installed (…); run \`npm install elkjs\``. */
  error: string;
}

/** Everything the page needs to draw the present; sent once when it connects. */
export interface SnapshotMessage {
  type: 'snapshot';
  /** The server's wall clock when sent: the page counts down against it, not against its own. */
  now: number;
  /** The last record already reflected here. */
  seq: number;
  actors: InspectedActor[];
  charts: ChartLayout[];
  /** Statecharts that could not be laid out. */
  chartErrors: ChartError[];
  transitions: TransitionRow[];
  status: StatusView;
  executions: ExecutionsView;
}

/** What changed since the last batch (at most every {@link BATCH_MS}). */
export interface BatchMessage {
  type: 'batch';
  now: number;
  records: TreeRecord[];
  status?: StatusView;
  executions?: ExecutionsView;
}

/** A statechart whose layout has just been computed. */
export interface ChartMessage {
  type: 'chart';
  chart: ChartLayout;
}

/** A statechart whose layout has just failed. */
export interface ChartErrorMessage extends ChartError {
  type: 'chart.error';
}

export type ServerMessage = SnapshotMessage | BatchMessage | ChartMessage | ChartErrorMessage;

/** Batches go out at most this often: a heartbeat alone moves every second, a reconnect loop more. */
export const BATCH_MS = 100;
