/** Stands for "every tenant" in a device revocation made without a tenant. */
const ANY_TENANT = '*';

/** Where a {@link RevocationList} writes its changes through to (a hub engine's store), in call order. */
export interface RevocationJournal {
  /** The device's revoked tenants are now `tenants` (`*` for all); none lifts every revocation. */
  deviceChanged(deviceId: string, tenants: readonly string[]): void;
  /** A token id is revoked until `forgetAt` (ms since the epoch). */
  tokenRevoked(jti: string, forgetAt: number): void;
}

/** What a {@link RevocationList} holds: revoked tenants (`*` for all) by device id, and revoked token ids with when to forget them. */
export interface RevocationState {
  devices: Array<[deviceId: string, tenants: string[]]>;
  tokens: Array<[jti: string, forgetAt: number]>;
}

/**
 * Revoked devices and revoked tokens. Devices stay revoked until lifted; a revoked token id is
 * forgotten once no token carrying it can still be valid (`forgetAfterMs` after the revocation:
 * the longest a token issued before it can live, leeway included).
 *
 * @example
 * const revoked = new RevocationList(() => clock.now(), lifetimeMs + leewayMs);
 * revoked.revokeDevice('laptop-1');              // in every tenant
 * revoked.isDeviceRevoked('acme', 'laptop-1');   // true
 */
export class RevocationList {
  /** device id → tenant ids, or `*` for all of them. */
  readonly #devices = new Map<string, Set<string>>();
  /** jti → when it may be forgotten. */
  readonly #tokens = new Map<string, number>();
  readonly #now: () => number;
  readonly #forgetAfterMs: number;
  readonly #journal: RevocationJournal | undefined;

  constructor(now: () => number, forgetAfterMs: number, journal?: RevocationJournal) {
    this.#now = now;
    this.#forgetAfterMs = forgetAfterMs;
    this.#journal = journal;
  }

  /**
   * Takes back what a journal kept (a restarted hub). A device changed here already keeps what
   * it is here (newer than the journal's); a token id keeps the later time to forget it.
   */
  restore(state: RevocationState): void {
    for (const [deviceId, tenants] of state.devices)
      if (tenants.length > 0 && !this.#devices.has(deviceId)) this.#devices.set(deviceId, new Set(tenants));
    const now = this.#now();
    for (const [jti, forgetAt] of state.tokens)
      if (now < forgetAt && !((this.#tokens.get(jti) ?? 0) >= forgetAt)) this.#tokens.set(jti, forgetAt);
  }

  /** Revokes a device id in one tenant, or in every tenant without `tenantId`. */
  revokeDevice(deviceId: string, tenantId?: string): void {
    let tenants = this.#devices.get(deviceId);
    if (!tenants) {
      tenants = new Set();
      this.#devices.set(deviceId, tenants);
    }
    tenants.add(tenantId ?? ANY_TENANT);
    this.#journal?.deviceChanged(deviceId, [...tenants]);
  }

  /**
   * Lifts a revocation. Without `tenantId` it lifts every revocation of the device id; with
   * one, only that tenant's (a revocation made without a tenant stays).
   */
  unrevokeDevice(deviceId: string, tenantId?: string): void {
    if (tenantId === undefined) {
      this.#devices.delete(deviceId);
      this.#journal?.deviceChanged(deviceId, []);
      return;
    }
    const tenants = this.#devices.get(deviceId);
    tenants?.delete(tenantId);
    if (tenants?.size === 0) this.#devices.delete(deviceId);
    this.#journal?.deviceChanged(deviceId, [...(tenants ?? [])]);
  }

  isDeviceRevoked(tenantId: string, deviceId: string): boolean {
    const tenants = this.#devices.get(deviceId);
    return tenants !== undefined && (tenants.has(ANY_TENANT) || tenants.has(tenantId));
  }

  revokeToken(jti: string): void {
    const now = this.#now();
    // Forget the ids that can no longer match a valid token, so the list stays bounded.
    for (const [id, forgetAt] of this.#tokens) if (now >= forgetAt) this.#tokens.delete(id);
    this.#tokens.set(jti, now + this.#forgetAfterMs);
    this.#journal?.tokenRevoked(jti, now + this.#forgetAfterMs);
  }

  isTokenRevoked(jti: string): boolean {
    return this.#tokens.has(jti);
  }
}
