import type { AuthStatus } from '../machines/auth-types.ts';
import type { ConnectionStatus } from '../machines/connection-types.ts';
import type { HeartbeatStatus } from '../machines/heartbeat.ts';
import type { SettingsStatus } from '../machines/settings-sync.ts';
import type { SupervisorStatus } from '../machines/supervisor.ts';
import type { Capacity } from '../execution/executor.ts';
import type { StorageStatus } from '../storage/storage-health.ts';

/*
 * What the host is shown of a connector, as types only: each machine says what its own part is
 * (`statusOf` next to the machine); the connector composes them (src/connector/status.ts).
 * Telemetry and the inspector read these types from here, below the connector.
 */

/** What the host sees of the connector: each actor's state and why it is there. */
export interface ConnectorStatus {
  supervisor: SupervisorStatus;
  connection: ConnectionStatus;
  auth: AuthStatus;
  heartbeat: HeartbeatStatus;
  settings: SettingsStatus;
  /**
   * Whether the store takes writes: `ok`, or `failing` (a full disk, a lost mount) with the path,
   * the error code and the delay before the next probe. While failing, new work is refused and
   * given back to the hub, and what accepted work stores waits; see docs/operations.md.
   */
  storage: StorageStatus;
}

/** The actor names in a status, in the order state changes are reported. */
export const STATUS_ACTORS = ['supervisor', 'auth', 'connection', 'heartbeat', 'settings', 'storage'] as const;
export type StatusActor = (typeof STATUS_ACTORS)[number];

/** One actor's state and reason, as printed by `--json` and emitted as a `state` event. */
export interface StateChange {
  actor: StatusActor;
  state: string;
  reason: string;
  /** Extra fields worth a line: `retryInMs`, `sessionId`, `rttMs`, `lastClose`, `failure`. */
  [detail: string]: unknown;
}

/** What the connector is executing, and what waits to be delivered. */
export interface ExecutionsStatus {
  capacity: Capacity;
  /** Request ids running or queued. */
  active: string[];
  /** Outbox entries not yet acknowledged by the hub. */
  outboxDepth: number;
  /**
   * Messages for the hub (events, usage reports, replies) held in memory while the store fails:
   * not in `outboxDepth` yet, written as soon as it takes writes again. Lost if the process
   * stops first (their executions are then reported `interrupted` on the next start).
   */
  waitingForStorage: number;
}
