import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Share } from '../../api/contract.ts';
import { getOrCreate } from '../../util/get-or-create.ts';

/** Live shares a tenant may hold. */
export const MAX_SHARES_PER_TENANT = 10_000;
/** Without `expires_in_s` a share lasts this long, or the organization's maximum when that is shorter. */
export const DEFAULT_SHARE_EXPIRY_S = 7 * 86_400;

/** What an organization allows: its settings key `sharing`, with the defaults filled in. */
export const SharingPolicy = z.object({
  enabled: z.boolean().default(true),
  allow_public: z.boolean().default(false),
  max_expiry_s: z
    .number()
    .int()
    .positive()
    .default(30 * 86_400),
});
export type SharingPolicy = z.infer<typeof SharingPolicy>;

/**
 * The sharing policy in an organization's settings. A `sharing` value the hub cannot read (not
 * an object, a field of the wrong type) allows nothing: a typo must not open sharing up.
 *
 * @example
 * sharingPolicyOf({ sharing: { allow_public: true } }); // { enabled: true, allow_public: true, max_expiry_s: 2592000 }
 * sharingPolicyOf({ sharing: 'on' }); // undefined: refused as disabled
 */
export function sharingPolicyOf(settings: Record<string, unknown>): SharingPolicy | undefined {
  const parsed = SharingPolicy.safeParse(settings.sharing ?? {});
  return parsed.success ? parsed.data : undefined;
}

/**
 * Where share links are kept: {@link ShareStore} in this process, or a store every hub node
 * shares (the Redis engine's), so a link made through one node opens through any.
 */
export interface Shares {
  /** Makes a share; undefined when the tenant holds {@link MAX_SHARES_PER_TENANT} live shares already. */
  create(share: Omit<Share, 'id' | 'url' | 'created_at'>, now: number, urlOf: (id: string) => string): Promise<Share | undefined>;
  /** A share until it expires; undefined for an unknown or expired one. */
  get(id: string, now: number): Promise<Share | undefined>;
}

/** A new share's id: 128 random bits, since a public share is readable by whoever holds its link. */
export function newShareId(): string {
  return `shr_${randomBytes(16).toString('base64url')}`;
}

/** A share made now from what was asked, under a new id: what either store keeps. */
export function newShare(share: Omit<Share, 'id' | 'url' | 'created_at'>, now: number, urlOf: (id: string) => string): Share {
  const id = newShareId();
  return {
    id,
    tenant_id: share.tenant_id,
    resource: { ...share.resource },
    visibility: share.visibility,
    url: urlOf(id),
    created_at: now,
    expires_at: share.expires_at,
  };
}

/**
 * Share links, in memory: each of one tenant's task or execution, until it expires. Ids are 128
 * random bits, since a public share is readable by whoever holds its link. Expired shares are
 * answered as unknown and forgotten lazily.
 *
 * @example
 * const shares = new ShareStore();
 * const share = await shares.create({ tenant_id: 'acme', resource: { type: 'execution', id: 'req_1' }, visibility: 'public', expires_at }, now, (id) => `http://hub/v1/shares/${id}`);
 * await shares.get(share.id, now); // the share, until expires_at
 */
export class ShareStore implements Shares {
  readonly #shares = new Map<string, Share>();
  readonly #byTenant = new Map<string, Set<string>>();

  /** Makes a share; undefined when the tenant holds {@link MAX_SHARES_PER_TENANT} live shares already. */
  create(share: Omit<Share, 'id' | 'url' | 'created_at'>, now: number, urlOf: (id: string) => string): Promise<Share | undefined> {
    return Promise.resolve(this.#create(share, now, urlOf));
  }

  /** A share until it expires; undefined for an unknown or expired one. */
  get(id: string, now: number): Promise<Share | undefined> {
    return Promise.resolve(this.#get(id, now));
  }

  #create(share: Omit<Share, 'id' | 'url' | 'created_at'>, now: number, urlOf: (id: string) => string): Share | undefined {
    const ids = getOrCreate(this.#byTenant, share.tenant_id, () => new Set());
    if (ids.size >= MAX_SHARES_PER_TENANT) this.#forgetExpired(ids, now);
    if (ids.size >= MAX_SHARES_PER_TENANT) return undefined;
    const created = newShare(share, now, urlOf);
    const { id } = created;
    this.#shares.set(id, created);
    ids.add(id);
    return structuredClone(created);
  }

  #get(id: string, now: number): Share | undefined {
    const share = this.#shares.get(id);
    if (!share) return undefined;
    if (now < share.expires_at) return structuredClone(share);
    this.#shares.delete(id);
    this.#byTenant.get(share.tenant_id)?.delete(id);
    return undefined;
  }

  #forgetExpired(ids: Set<string>, now: number): void {
    for (const id of ids) this.#get(id, now);
  }
}
