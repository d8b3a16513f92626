import type { AnyActorRef } from 'xstate';
import { type ConnectionContext, type ConnectionStateName, connectionStateName } from '../machines/connection.ts';
import type { AuthContext, UserInfo } from '../machines/auth.ts';
import type { HeartbeatContext } from '../machines/heartbeat.ts';
import type { ChildName, SupervisorContext } from '../machines/supervisor.ts';
import { type SettingsSyncContext, type SettingsSyncStateName, settingsStateName } from '../machines/settings-sync.ts';
import type { StorageStatus } from '../storage/storage-health.ts';

/** What the host sees of the connector: each actor's state and why it is there. */
export interface ConnectorStatus {
  supervisor: {
    state: 'running' | 'degraded' | 'stopped';
    /** `started`, `child_failed` (degraded) or `stopped`. */
    reason: string;
    /** The child that failed past its restart budget, while degraded. */
    failure?: { child: ChildName; error: string };
  };
  connection: {
    state: ConnectionStateName | 'stopped';
    reason: string;
    /** Delay before the pending retry, while disconnected or suspended. */
    retryInMs?: number;
    /** Failed attempts since the connection was last stable. */
    attempt: number;
    sessionId?: string;
    /** Largest frame the hub accepts, from `connect_ack` (while connected). */
    maxFrameBytes?: number;
    /** The last close code seen, e.g. `{ code: 4003, reason: 'replaced' }`. */
    lastClose?: { code: number; reason: string };
    /** The hub's `error` message that came with a refused handshake. */
    hubError?: string;
  };
  auth: {
    /**
     * `attempting` (first token), `active` (`valid`, `refreshing`, or `waiting` to retry a
     * failed refresh), `inactive` (no valid token, hub unreachable), `static`, `unauthorized`
     * (definitive), `disabled` (standalone).
     */
    state:
      | 'attempting'
      | 'inactive'
      | 'valid'
      | 'refreshing'
      | 'waiting'
      | 'switching'
      | 'static'
      | 'logged_out'
      | 'logging_in'
      | 'logging_out'
      | 'unauthorized'
      | 'disabled'
      | 'stopped';
    reason: string;
    /** When the current token expires (epoch ms). */
    expiresAt?: number;
    /** Delay before the next token fetch, while retrying. */
    retryInMs?: number;
    /** User mode: who is logged in and in which organization (= tenant). */
    user?: UserInfo;
    /** User mode, while logging in: what to show the user. */
    login?: { userCode: string; verificationUri: string; verificationUriComplete?: string; expiresAt: number };
  };
  heartbeat: {
    state: 'idle' | 'waiting' | 'awaiting' | 'dead' | 'stopped';
    reason: string;
    /** Round trip of the last acknowledged heartbeat. */
    rttMs?: number;
  };
  settings: {
    /** The settings-sync machine's state; `stopped` before the cache is loaded and for static settings. */
    state: SettingsSyncStateName | 'stopped';
    reason: string;
    /** Versions in force and local edits not yet at the hub. */
    orgVersion?: number;
    userVersion?: number;
    pendingEdits?: number;
    /** Delay before the next fetch or write, while retrying. */
    retryInMs?: number;
  };
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

/** Builds the status from the live actor tree and the store's health. */
export function readStatus(supervisor: AnyActorRef, storage: StorageStatus): ConnectorStatus {
  const root = supervisor.getSnapshot();
  const rootContext = root.context as SupervisorContext;
  const connectionRef = root.children.connection as AnyActorRef | undefined;
  const heartbeatRef = root.children.heartbeat as AnyActorRef | undefined;
  const authRef = root.children.auth as AnyActorRef | undefined;
  const settingsRef = root.children.settings as AnyActorRef | undefined;
  const alive = (ref: AnyActorRef | undefined) => ref !== undefined && ref.getSnapshot().status === 'active';

  const supervisorState = root.status !== 'active' ? 'stopped' : (root.value as 'running' | 'degraded');
  const status: ConnectorStatus = {
    supervisor: {
      state: supervisorState,
      reason: supervisorState === 'stopped' ? 'stopped' : rootContext.failure ? 'child_failed' : 'started',
      ...(rootContext.failure && { failure: rootContext.failure }),
    },
    connection: { state: 'stopped', reason: 'stopped', attempt: 0 },
    auth: { state: 'stopped', reason: 'stopped' },
    heartbeat: { state: 'stopped', reason: 'stopped' },
    settings: { state: 'stopped', reason: 'stopped' },
    storage,
  };
  if (alive(settingsRef)) {
    const snap = settingsRef!.getSnapshot();
    const c = snap.context as SettingsSyncContext;
    const state = settingsStateName(snap.value);
    status.settings = {
      state,
      reason: c.reason,
      orgVersion: c.state.org.version,
      userVersion: c.state.user.version,
      pendingEdits: c.state.pending.length,
      ...(c.retryInMs !== undefined && (state === 'retrying' || snap.matches({ online: { pushing: 'waiting' } })) && { retryInMs: c.retryInMs }),
    };
  }
  if (alive(authRef)) {
    const snap = authRef!.getSnapshot();
    const a = snap.context as AuthContext;
    const value = snap.value as string | Record<string, string>;
    const state = authStateName(value);
    const { deviceCode: _secret, intervalMs: _interval, ...login } = a.login ?? ({} as NonNullable<AuthContext['login']>);
    status.auth = {
      state,
      reason: a.reason,
      ...(a.grant?.expiresAt !== undefined && { expiresAt: a.grant.expiresAt }),
      ...((state === 'waiting' || state === 'inactive') && a.retryInMs !== undefined && { retryInMs: a.retryInMs }),
      ...(a.user && { user: a.user }),
      ...(a.login && { login }),
    };
  }
  if (alive(connectionRef)) {
    const snap = connectionRef!.getSnapshot();
    const c = snap.context as ConnectionContext;
    const state = connectionStateName(snap.value);
    status.connection = {
      state,
      reason: c.reason,
      attempt: c.attempt,
      ...((state === 'disconnected' || state === 'suspended') && c.retryInMs !== undefined && { retryInMs: c.retryInMs }),
      ...(c.session && { sessionId: c.session.sessionId, maxFrameBytes: c.session.maxFrameBytes }),
      ...(c.lastClose && { lastClose: c.lastClose }),
      ...(c.hubError && { hubError: c.hubError }),
    };
  }
  if (alive(heartbeatRef)) {
    const snap = heartbeatRef!.getSnapshot();
    const h = snap.context as HeartbeatContext;
    const value = snap.value as 'idle' | 'dead' | { active: { beat: 'waiting' | 'awaiting' } };
    status.heartbeat = {
      state: typeof value === 'string' ? value : value.active.beat,
      reason: h.reason,
      ...(h.rttMs !== undefined && { rttMs: h.rttMs }),
    };
  }
  return status;
}

/** The auth machine's state value as one name. */
function authStateName(value: string | Record<string, string>): ConnectorStatus['auth']['state'] {
  if (typeof value !== 'string') return (value.active ?? (value.loggingIn ? 'logging_in' : 'static')) as ConnectorStatus['auth']['state'];
  const names: Record<string, ConnectorStatus['auth']['state']> = { loggedOut: 'logged_out', loggingOut: 'logging_out', loggingIn: 'logging_in' };
  return names[value] ?? (value as ConnectorStatus['auth']['state']);
}

/** One actor's state and reason, as printed by `--json` and emitted as a `state` event. */
export interface StateChange {
  actor: StatusActor;
  state: string;
  reason: string;
  /** Extra fields worth a line: `retryInMs`, `sessionId`, `rttMs`, `lastClose`, `failure`. */
  [detail: string]: unknown;
}

/** The actors whose state or reason differs between two statuses, as state changes. */
export function diffStatus(before: ConnectorStatus | undefined, after: ConnectorStatus): StateChange[] {
  const changes: StateChange[] = [];
  for (const actor of STATUS_ACTORS) {
    const next = after[actor] as { state: string; reason?: string } & Record<string, unknown>;
    const prev = before?.[actor] as ({ state: string; reason?: string } & Record<string, unknown>) | undefined;
    if (prev && prev.state === next.state && prev.reason === next.reason) continue;
    changes.push({ actor, state: next.state, reason: next.reason ?? '', ...detailsOf(after, actor) });
  }
  return changes;
}

/** The details worth printing with a state: only those that say something about it. */
function detailsOf(status: ConnectorStatus, actor: StatusActor): Record<string, unknown> {
  switch (actor) {
    case 'supervisor':
      return status.supervisor.failure ? { failure: status.supervisor.failure } : {};
    case 'connection': {
      const c = status.connection;
      if (c.state === 'connected') return { sessionId: c.sessionId };
      if (c.state === 'disconnected' || c.state === 'suspended') {
        return { retryInMs: c.retryInMs, attempt: c.attempt, ...(c.lastClose && { lastClose: c.lastClose.code }) };
      }
      if (c.state === 'failed') return { lastClose: c.lastClose?.code, hubError: c.hubError };
      return {};
    }
    case 'heartbeat':
      return status.heartbeat.reason === 'acknowledged' ? { rttMs: status.heartbeat.rttMs } : {};
    case 'storage': {
      const s = status.storage;
      return s.state === 'failing' ? { path: s.path, code: s.code, attempt: s.attempt, retryInMs: s.retryInMs } : {};
    }
    case 'settings': {
      const s = status.settings;
      if (s.state === 'stopped') return {};
      return { orgVersion: s.orgVersion, userVersion: s.userVersion, ...(s.pendingEdits && { pendingEdits: s.pendingEdits }), ...(s.retryInMs !== undefined && { retryInMs: s.retryInMs }) };
    }
    case 'auth': {
      const a = status.auth;
      if (a.state === 'valid' || a.state === 'static') return { expiresAt: a.expiresAt, ...(a.user && { tenant: a.user.organization.id }) };
      if (a.state === 'logging_in' && a.login) return { userCode: a.login.userCode, verificationUri: a.login.verificationUri };
      if (a.state === 'waiting' || a.state === 'inactive') return { retryInMs: a.retryInMs };
      return {};
    }
  }
}
