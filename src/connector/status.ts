import type { AnyActorRef } from 'xstate';
import { statusOf as authStatusOf } from '../machines/auth.ts';
import { statusOf as connectionStatusOf } from '../machines/connection.ts';
import { statusOf as heartbeatStatusOf } from '../machines/heartbeat.ts';
import { statusOf as settingsStatusOf } from '../machines/settings-sync.ts';
import { statusOf as supervisorStatusOf } from '../machines/supervisor.ts';
import { type ConnectorStatus, type StateChange, STATUS_ACTORS, type StatusActor } from '../status/connector-status.ts';
import type { StorageStatus } from '../storage/storage-health.ts';

export { STATUS_ACTORS, type ConnectorStatus, type StateChange, type StatusActor } from '../status/connector-status.ts';

/** A child that is gone (stopped, failed, not started yet) reports `stopped`. */
const STOPPED = {
  connection: { state: 'stopped', reason: 'stopped', attempt: 0 },
  auth: { state: 'stopped', reason: 'stopped' },
  heartbeat: { state: 'stopped', reason: 'stopped' },
  settings: { state: 'stopped', reason: 'stopped' },
} as const satisfies Partial<ConnectorStatus>;

/**
 * Builds the status from the live actor tree and the store's health: each machine's own
 * `statusOf` reads its snapshot, and a child that is not running reports `stopped`.
 */
export function readStatus(supervisor: AnyActorRef, storage: StorageStatus): ConnectorStatus {
  const root = supervisor.getSnapshot();
  const live = (name: 'auth' | 'connection' | 'heartbeat' | 'settings') => {
    const ref = root.children[name] as AnyActorRef | undefined;
    return ref !== undefined && ref.getSnapshot().status === 'active' ? ref.getSnapshot() : undefined;
  };
  const [auth, connection, heartbeat, settings] = [live('auth'), live('connection'), live('heartbeat'), live('settings')];
  return {
    supervisor: supervisorStatusOf(root),
    connection: connection ? connectionStatusOf(connection) : { ...STOPPED.connection },
    auth: auth ? authStatusOf(auth) : { ...STOPPED.auth },
    heartbeat: heartbeat ? heartbeatStatusOf(heartbeat) : { ...STOPPED.heartbeat },
    settings: settings ? settingsStatusOf(settings) : { ...STOPPED.settings },
    storage,
  };
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
        return {
          retryInMs: c.retryInMs,
          attempt: c.attempt,
          ...(c.lastClose && { lastClose: c.lastClose.code }),
          ...(c.networkError && { networkError: c.networkError }),
        };
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
      return {
        orgVersion: s.orgVersion,
        userVersion: s.userVersion,
        ...(s.pendingEdits && { pendingEdits: s.pendingEdits }),
        ...(s.retryInMs !== undefined && { retryInMs: s.retryInMs }),
      };
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
