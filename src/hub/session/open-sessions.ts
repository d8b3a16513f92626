import { CloseCode } from '../../protocol/index.ts';
import type { SessionInfo } from '../core/events.ts';
import { SessionRegistry } from './registry.ts';
import type { Session } from './session.ts';

/** An authenticated session, with what `devices()` reports of it. */
export interface OpenSession {
  session: Session;
  info: SessionInfo;
}

/**
 * The sessions of one hub: every socket from its upgrade on, and the authenticated ones by
 * (tenant, device), at most one each.
 *
 * @example
 * const sessions = new OpenSessions();
 * sessions.add(session);                 // on upgrade
 * sessions.register(session, info);      // once `connect` checked out
 * sessions.withDevice('laptop-1');       // [{ session, info }]
 */
export class OpenSessions {
  /** Authenticated sessions by (tenant, device). */
  readonly #registry = new SessionRegistry<OpenSession>();
  /** Every socket, including those still in the handshake: what close() must wait for. */
  readonly #sockets = new Set<Session>();

  /** Tracks a socket fresh from its upgrade. */
  add(session: Session): void {
    this.#sockets.add(session);
  }

  /** Registers an authenticated session; an older one of the same (tenant, device) closes as `replaced`. */
  register(session: Session, info: SessionInfo): void {
    const previous = this.#registry.set(info.tenant_id, info.device_id, { session, info });
    previous?.session.close(CloseCode.replaced, 'replaced');
  }

  /** Forgets a closed session. */
  forget(session: Session): void {
    this.#sockets.delete(session);
    const info = session.info;
    if (!info) return;
    const entry = this.#registry.get(info.tenant_id, info.device_id);
    // A replaced session must not unregister its successor.
    if (entry?.session === session) this.#registry.delete(info.tenant_id, info.device_id);
  }

  get(tenantId: string, deviceId: string): OpenSession | undefined {
    return this.#registry.get(tenantId, deviceId);
  }

  /** The authenticated sessions of a device id, across tenants. */
  withDevice(deviceId: string): OpenSession[] {
    return this.#registry.withDevice(deviceId);
  }

  /** Every authenticated session. */
  all(): OpenSession[] {
    return Array.from(this.#registry.values());
  }

  /** What `devices()` reports: copies, so a caller cannot edit the hub's own. */
  devices(): SessionInfo[] {
    return Array.from(this.#registry.values(), ({ info }) => ({ ...info }));
  }

  /** Destroys every socket without a close frame (`hub.faults.crash`). */
  terminateAll(): void {
    for (const session of this.#sockets) session.terminate();
  }

  /** Closes every socket, authenticated or not, with `code`; resolves once all are closed. */
  async closeAll(code: number, reason: string): Promise<void> {
    const sessions = [...this.#sockets];
    for (const session of sessions) session.close(code, reason);
    await Promise.all(sessions.map((session) => session.closed));
  }
}
