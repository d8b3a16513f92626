import type { Logger } from '../../log/logger.ts';
import type { AttemptStore } from './attempt-store.ts';

/**
 * The credentials the hub throttles, each counted apart (an address failing one kind is not
 * slowed down on another):
 * - `device_credential`: the token or static credential of `connect` and of devices' HTTP
 *   requests (settings, REST API), by device (`tenant/device`);
 * - `device_secret`: the secret of `POST /v1/device-token`, by device (`tenant/device`);
 * - `device_login`: `POST /v1/oauth/device_authorization`, every request (each starts a login),
 *   by client id;
 * - `oauth_grant`: a device code or refresh token at `POST /v1/oauth/token`, by client id;
 * - `api_key`: a `ctk_…` API key, by key id;
 * - `admin_token`: the admin bearer, by address only (one shared token: a lock on it would let
 *   anyone lock every operator out).
 */
export type CredentialKind = 'device_credential' | 'device_secret' | 'device_login' | 'oauth_grant' | 'api_key' | 'admin_token';

/** One attempt to present a credential. */
export interface Attempt {
  kind: CredentialKind;
  /** Where it came from (`clientAddress`). */
  address: string;
  /** The credential's id, when it has one: a device, an API key id, an OAuth client id. */
  id?: string;
}

/** Whether an attempt may be checked now; when not, how long until it may. */
export type ThrottleVerdict = { ok: true } | { ok: false; retryAfterMs: number; scope: 'address' | 'credential' };

/** How failures turn into lock-outs (`HubOptions.throttle`, with its defaults). */
export interface ThrottlePolicy {
  /** Failures from one address, per kind, before the first lock-out. */
  freeFailuresPerAddress: number;
  /** Failures against one credential id, from any addresses, before the first lock-out. */
  freeFailuresPerCredential: number;
  /** The first lock-out; each further failure doubles it. */
  baseLockoutMs: number;
  /** The longest lock-out; a record is forgotten this long after its lock-out ends. */
  maxLockoutMs: number;
}

/** How long an address a credential succeeded from stays known to it. */
const FAMILIAR_MS = 7 * 86_400_000;

/**
 * Slows down whoever presents wrong credentials: past the free failures, each failure locks
 * its address (per kind) or its credential id for a window that doubles with every further
 * failure, up to a cap. An attempt in a locked window is refused before its credential is
 * looked at, so a right credential from a locked address waits out the window like a wrong one
 * (the answer tells nothing about the credential). A credential id's lock does not hold for an
 * address the credential succeeded from before (within 7 days): a device keeps working while
 * others guess at it from elsewhere. A success resets nothing, so a caller holding one good
 * credential cannot launder failures on others. Each lock-out is logged once, when it starts,
 * with the kind, the address and the credential id, never a credential.
 *
 * @example
 * const throttle = new FailureThrottle({ store: new MemoryAttemptStore(), familiar: new MemoryAttemptStore(), policy, now: () => clock.now(), logger });
 * const attempt = { kind: 'api_key', address: clientAddress(req), id: keyId } as const;
 * const gate = await throttle.admit(attempt);
 * if (!gate.ok) return replyThrottled(res, gate.retryAfterMs);
 * if (await check()) await throttle.succeed(attempt); else await throttle.fail(attempt);
 */
export class FailureThrottle {
  readonly #store: AttemptStore;
  readonly #familiar: AttemptStore;
  readonly #policy: ThrottlePolicy;
  readonly #now: () => number;
  readonly #log: Logger;

  /**
   * `store` counts failures; `familiar` remembers where credentials succeeded, apart, so that a
   * fleet's successes never push an attacker's count out of a bounded store.
   */
  constructor({
    store,
    familiar,
    policy,
    now,
    logger,
  }: {
    store: AttemptStore;
    familiar: AttemptStore;
    policy: ThrottlePolicy;
    now: () => number;
    logger: Logger;
  }) {
    this.#store = store;
    this.#familiar = familiar;
    this.#policy = policy;
    this.#now = now;
    this.#log = logger;
  }

  /** Whether the attempt may be checked now: neither its address nor (from an unfamiliar address) its credential id is locked. */
  async admit(attempt: Attempt): Promise<ThrottleVerdict> {
    const now = this.#now();
    // Asked together: a shared store answers the three in one round trip.
    const [byAddress, byCredential, familiar] = await Promise.all([
      this.#store.get(addressKey(attempt), now),
      attempt.id === undefined ? undefined : this.#store.get(credentialKey(attempt), now),
      attempt.id === undefined ? undefined : this.#familiar.get(familiarKey(attempt), now),
    ]);
    if (byAddress && byAddress.lockedUntil > now) return { ok: false, retryAfterMs: byAddress.lockedUntil - now, scope: 'address' };
    if (!byCredential || byCredential.lockedUntil <= now || familiar) return { ok: true };
    return { ok: false, retryAfterMs: byCredential.lockedUntil - now, scope: 'credential' };
  }

  /** Counts a failed attempt against its address and its credential id; logs a lock-out it starts. */
  async fail(attempt: Attempt): Promise<void> {
    const now = this.#now();
    const { freeFailuresPerAddress, freeFailuresPerCredential } = this.#policy;
    const byAddress = await this.#store.fail(addressKey(attempt), now, (failures) => this.#next(failures, freeFailuresPerAddress, now));
    if (byAddress.lockedUntil > now) this.#logLockout(attempt, 'address', byAddress.failures, byAddress.lockedUntil - now);
    if (attempt.id === undefined) return;
    const byCredential = await this.#store.fail(credentialKey(attempt), now, (failures) =>
      this.#next(failures, freeFailuresPerCredential, now),
    );
    if (byCredential.lockedUntil > now) this.#logLockout(attempt, 'credential', byCredential.failures, byCredential.lockedUntil - now);
  }

  /** Remembers that the credential succeeded from this address: its id's lock-outs do not hold there. */
  async succeed(attempt: Attempt): Promise<void> {
    const now = this.#now();
    if (attempt.id !== undefined) await this.#familiar.mark(familiarKey(attempt), now + FAMILIAR_MS, now);
  }

  #next(failures: number, free: number, now: number): { lockedUntil: number; expiresAt: number } {
    const { baseLockoutMs, maxLockoutMs } = this.#policy;
    const lockoutMs = failures <= free ? 0 : Math.min(maxLockoutMs, baseLockoutMs * 2 ** Math.min(failures - free - 1, 40));
    const lockedUntil = lockoutMs > 0 ? now + lockoutMs : 0;
    return { lockedUntil, expiresAt: now + lockoutMs + maxLockoutMs };
  }

  #logLockout(attempt: Attempt, scope: 'address' | 'credential', failures: number, lockoutMs: number): void {
    const line = {
      kind: attempt.kind,
      scope,
      address: attempt.address,
      ...(attempt.id !== undefined && { credential_id: attempt.id }),
      failures,
      retry_after_s: Math.ceil(lockoutMs / 1_000),
    };
    this.#log.warn(line, 'failed credentials throttled');
  }
}

// Keys hold a NUL between parts: no id or address contains one.
function addressKey({ kind, address }: Attempt): string {
  return `addr\u0000${kind}\u0000${address}`;
}

function credentialKey({ kind, id }: Attempt): string {
  return `cred\u0000${kind}\u0000${id ?? ''}`;
}

function familiarKey({ kind, id, address }: Attempt): string {
  return `seen\u0000${kind}\u0000${id ?? ''}\u0000${address}`;
}
