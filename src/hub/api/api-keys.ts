import { createHash, randomBytes } from 'node:crypto';
import { type ApiKeyInfo, type ApiKeyWithSecret, type CreateApiKey, Permission } from '../../api/contract.ts';
import { safeEqual } from '../../http/safe-equal.ts';
import { getOrCreate } from '../../util/get-or-create.ts';

/**
 * `ctk_<id>_<secret>`: the id is hex, so the first `_` after the prefix ends it whatever the
 * base64url secret holds.
 */
const PRESENTED = /^ctk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/**
 * The id of a presented `ctk_<id>_<secret>` key, read without checking it; undefined when the id
 * part is not one.
 *
 * @example
 * apiKeyIdOf('ctk_3f9a0c1d2e4b5a69_…'); // '3f9a0c1d2e4b5a69'
 */
export function apiKeyIdOf(presented: string): string | undefined {
  return /^ctk_([0-9a-f]{16})_/.exec(presented)?.[1];
}

/** Live keys (neither revoked nor expired) a tenant may hold. */
export const MAX_LIVE_KEYS_PER_TENANT = 1_000;
/** A revoked or expired key stays listed this long, then is forgotten. */
const DEAD_KEPT_MS = 30 * 86_400_000;
/** Revoked or expired keys a tenant keeps listed; past it the oldest dead are forgotten first. */
export const MAX_DEAD_KEYS_PER_TENANT = 1_000;

/** A key as the store holds it: its SHA-256, never its secret. */
export interface StoredApiKey extends ApiKeyInfo {
  /** Hex SHA-256 of the secret part of `ctk_<id>_<secret>`. */
  secret_hash: string;
}

/** Where an {@link ApiKeyStore} writes its changes through to (a hub engine's store), in call order. */
export interface ApiKeyJournal {
  /** A key was made: it is `key`. */
  stored(key: StoredApiKey): void;
  /**
   * A key changed (it is now `key`): written as the change alone, so a shared store merges it with
   * what other hub nodes did meanwhile (a use never undoes a revocation, a rotation never revives a revoked key).
   */
  changed(key: StoredApiKey, change: ApiKeyChange): void;
  /** A dead key was forgotten. */
  forgotten(key: StoredApiKey): void;
  /**
   * The key as the store holds it now, when the store is shared by several hub nodes: read on
   * each presented key, so a key made or revoked on another node counts at once.
   */
  read?(id: string): Promise<StoredApiKey | undefined>;
  /** Resolves once every change so far is stored; rejects when the last one failed. */
  settled?(): Promise<void>;
}

/** One change of a kept key. */
export type ApiKeyChange =
  | { kind: 'used'; at: number }
  | { kind: 'revoked'; at: number }
  /** A new secret: its hash. */
  | { kind: 'rotated'; secret_hash: string };

/** Why a presented key was refused. */
export type ApiKeyRefusal = 'malformed' | 'unknown' | 'wrong_secret' | 'revoked' | 'expired';

/**
 * The hub's API keys, held in memory and written through to a journal when the engine has one
 * (Redis: read again from it on each presented key, so every hub node on it sees a key made,
 * rotated or revoked on any other at once): each scoped to one tenant and a set of permissions, shown with
 * its secret once (at creation and at each rotation), kept as a hash of that secret. The secret
 * is 32 random bytes, so a fast hash (SHA-256) is as good as a slow one here: there is nothing to
 * guess by brute force. Revocation and rotation apply to the very next request.
 *
 * @example
 * const keys = new ApiKeyStore();
 * const { secret } = keys.create('acme', { name: 'ci', permissions: ['usage:read'] }, Date.now());
 * await keys.authenticate(secret, Date.now()); // { ok: true, key: { id, tenant_id: 'acme', … } }
 */
export class ApiKeyStore {
  readonly #keys = new Map<string, StoredApiKey>();
  /** Key ids per tenant, for listing and the per-tenant cap. */
  readonly #byTenant = new Map<string, Set<string>>();
  readonly #journal: ApiKeyJournal | undefined;

  constructor(journal?: ApiKeyJournal) {
    this.#journal = journal;
  }

  /**
   * Reads one key again from a shared journal and takes it as it is there (made, revoked or
   * rotated on another hub node); nothing without a shared journal, or when the journal has none.
   */
  async refresh(id: string): Promise<void> {
    const stored = await this.#journal?.read?.(id);
    if (stored) this.#adopt(stored);
  }

  /**
   * Resolves once every key made or changed so far is stored (on a shared journal: seen by every
   * hub node from then on); rejects when the store refused the last change.
   */
  settled(): Promise<void> {
    return this.#journal?.settled?.() ?? Promise.resolve();
  }

  #adopt(stored: StoredApiKey): void {
    this.#keys.set(stored.id, structuredClone(stored));
    getOrCreate(this.#byTenant, stored.tenant_id, () => new Set()).add(stored.id);
  }

  /** Takes back keys a journal kept (a restarted hub); a key held here already is newer and stays. */
  restore(keys: readonly StoredApiKey[]): void {
    // Listed oldest first, as made.
    for (const key of [...keys].sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id))) {
      if (this.#keys.has(key.id)) continue;
      this.#keys.set(key.id, structuredClone(key));
      getOrCreate(this.#byTenant, key.tenant_id, () => new Set()).add(key.id);
    }
  }

  /** Makes a key; undefined when the tenant holds {@link MAX_LIVE_KEYS_PER_TENANT} live keys already. */
  create(tenantId: string, request: CreateApiKey, now: number): ApiKeyWithSecret | undefined {
    if (this.#tenantKeys(tenantId, now).filter((key) => isLive(key, now)).length >= MAX_LIVE_KEYS_PER_TENANT) return undefined;
    let id = randomBytes(8).toString('hex');
    while (this.#keys.has(id)) id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const key: StoredApiKey = {
      id,
      name: request.name,
      tenant_id: tenantId,
      // Each permission once, in the contract's order.
      permissions: Permission.options.filter((permission) => request.permissions.includes(permission)),
      created_at: now,
      expires_at: request.expires_in_s === undefined ? null : now + request.expires_in_s * 1_000,
      revoked_at: null,
      last_used_at: null,
      use_count: 0,
      secret_hash: hashOf(secret),
    };
    this.#keys.set(id, key);
    getOrCreate(this.#byTenant, tenantId, () => new Set()).add(id);
    this.#journal?.stored(key);
    return { ...infoOf(key), secret: `ctk_${id}_${secret}` };
  }

  /** A tenant's keys, oldest first, without secrets or hashes. */
  list(tenantId: string, now: number): ApiKeyInfo[] {
    return this.#tenantKeys(tenantId, now).map(infoOf);
  }

  /** One key of the tenant, without its secret; undefined for an unknown key or another tenant's. */
  get(tenantId: string, id: string): ApiKeyInfo | undefined {
    const key = this.#own(tenantId, id);
    return key && infoOf(key);
  }

  /** Revokes a key of the tenant; false for an unknown key or another tenant's. Revoking twice keeps the first time. */
  revoke(tenantId: string, id: string, now: number): boolean {
    const key = this.#own(tenantId, id);
    if (!key) return false;
    if (key.revoked_at !== null) return true;
    key.revoked_at = now;
    this.#journal?.changed(key, { kind: 'revoked', at: now });
    return true;
  }

  /** Gives a live key of the tenant a new secret; the old one is refused from now on. */
  rotate(tenantId: string, id: string, now: number): ApiKeyWithSecret | 'not_found' | 'revoked' | 'expired' {
    const key = this.#own(tenantId, id);
    if (!key) return 'not_found';
    if (key.revoked_at !== null) return 'revoked';
    if (isExpired(key, now)) return 'expired';
    const secret = randomBytes(32).toString('base64url');
    key.secret_hash = hashOf(secret);
    this.#journal?.changed(key, { kind: 'rotated', secret_hash: key.secret_hash });
    return { ...infoOf(key), secret: `ctk_${id}_${secret}` };
  }

  /**
   * Checks a presented `ctk_…` key; a use counts (`last_used_at`, `use_count`). With a shared
   * journal the key is read from it first: one made, rotated or revoked on another hub node
   * counts at once, and a key is answered `unknown` only once the store does not have it either.
   */
  async authenticate(
    presented: string,
    now: number,
  ): Promise<{ ok: true; key: ApiKeyInfo } | { ok: false; reason: ApiKeyRefusal; id?: string }> {
    const [, id, secret] = PRESENTED.exec(presented) ?? [];
    if (id === undefined || secret === undefined) return { ok: false, reason: 'malformed' };
    await this.refresh(id);
    const key = this.#keys.get(id);
    if (!key) return { ok: false, reason: 'unknown', id };
    if (!safeEqual(hashOf(secret), key.secret_hash)) return { ok: false, reason: 'wrong_secret', id };
    if (key.revoked_at !== null) return { ok: false, reason: 'revoked', id };
    if (isExpired(key, now)) return { ok: false, reason: 'expired', id };
    key.last_used_at = now;
    key.use_count += 1;
    this.#journal?.changed(key, { kind: 'used', at: now });
    return { ok: true, key: infoOf(key) };
  }

  /** Every key as held (hashes, never secrets): what a persistent store would write. */
  stored(): StoredApiKey[] {
    return [...this.#keys.values()].map((key) => structuredClone(key));
  }

  #own(tenantId: string, id: string): StoredApiKey | undefined {
    const key = this.#keys.get(id);
    return key?.tenant_id === tenantId ? key : undefined;
  }

  /**
   * A tenant's keys; forgets those dead for longer than {@link DEAD_KEPT_MS}, and the oldest dead
   * past {@link MAX_DEAD_KEYS_PER_TENANT} (a create-and-revoke loop must not grow the hub).
   */
  #tenantKeys(tenantId: string, now: number): StoredApiKey[] {
    const ids = this.#byTenant.get(tenantId);
    const keys: StoredApiKey[] = [];
    const dead: StoredApiKey[] = [];
    const forget = (id: string) => {
      const key = this.#keys.get(id);
      this.#keys.delete(id);
      ids?.delete(id);
      if (key) this.#journal?.forgotten(key);
    };
    for (const id of ids ?? []) {
      const key = this.#keys.get(id);
      if (!key) continue;
      const diedAt = diedAtOf(key, now);
      if (diedAt !== null && now - diedAt > DEAD_KEPT_MS) forget(id);
      else {
        keys.push(key);
        if (diedAt !== null) dead.push(key);
      }
    }
    if (dead.length <= MAX_DEAD_KEYS_PER_TENANT) return keys;
    const gone = new Set(
      dead
        .sort((a, b) => diedAtOf(a, now)! - diedAtOf(b, now)!)
        .slice(0, dead.length - MAX_DEAD_KEYS_PER_TENANT)
        .map((k) => k.id),
    );
    for (const id of gone) forget(id);
    return keys.filter((key) => !gone.has(key.id));
  }
}

function hashOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function diedAtOf(key: ApiKeyInfo, now: number): number | null {
  return key.revoked_at ?? (isExpired(key, now) ? key.expires_at : null);
}

function isExpired(key: ApiKeyInfo, now: number): boolean {
  return key.expires_at !== null && now >= key.expires_at;
}

function isLive(key: ApiKeyInfo, now: number): boolean {
  return key.revoked_at === null && !isExpired(key, now);
}

function infoOf({ secret_hash: _hash, ...info }: StoredApiKey): ApiKeyInfo {
  return { ...info, permissions: [...info.permissions] };
}
