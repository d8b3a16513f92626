/** RFC 8628 §3.5: each `slow_down` adds this much to the interval of that device code. */
export const SLOW_DOWN_STEP_S = 5;

/** What the user decided on a pending login. */
export type LoginDecision = { approved: { userId: string; organizationId: string } } | 'denied';

/** A started device authorization as kept: device and user codes only as hashes. */
export interface PendingLogin {
  loginId: string;
  clientId: string;
  deviceCodeHash: string;
  userCodeHash: string;
  expiresAt: number;
  intervalS: number;
  lastPollAt: number | undefined;
  decision: LoginDecision | undefined;
}

/** What one poll of a device code found (the poll is counted for `slow_down` unless `unknown` or `expired`). */
export type LoginPoll =
  | { state: 'unknown' }
  | { state: 'expired' | 'slow_down' | 'pending' | 'denied'; loginId: string }
  | { state: 'approved'; loginId: string; userId: string; organizationId: string };

/** A refresh-token family (one per login), without its tokens. */
export interface FamilyInfo {
  id: string;
  userId: string;
  clientId: string;
  /** The organization its last access token was issued in. */
  organizationId: string;
}

/** A refresh token issued to a family, with the access token signed with it. */
export interface IssuedRefresh {
  /** The refresh token's hash. */
  hash: string;
  expiresAt: number;
  accessJti: string;
  /** When the access token stops being accepted (its `exp` plus the leeway). */
  accessUntil: number;
}

/** What a revoked family leaves to clean up: the access tokens it issued that may still live. */
export interface RevokedFamily {
  familyId: string;
  userId: string;
  clientId: string;
  accessTokens: string[];
}

/**
 * Where {@link UserLogins} keeps pending device logins and refresh-token families: this process
 * ({@link MemoryLoginStore}) or a store every hub node shares (the Redis engine's), so a login
 * started on one node is approved on another and polled on a third, and a refresh token issued
 * by one node refreshes on any. Every step that changes state is atomic in the store: a device
 * code is redeemed once, and a refresh token rotated once, whichever nodes race for it.
 * Times are the hub's clock, passed in.
 */
export interface LoginStore {
  /**
   * Keeps a started login until `keepUntil` (past its expiry, so a late poll is answered
   * `expired_token`); false when a live login holds its user code already (draw another).
   */
  start(login: PendingLogin, now: number, keepUntil: number): Promise<boolean>;
  /** The live, undecided login waiting on a user code. */
  waiting(userCodeHash: string, now: number): Promise<PendingLogin | undefined>;
  /** Decides the login waiting on a user code; its login id, or undefined when none waits (decided meanwhile, expired). */
  decide(userCodeHash: string, decision: LoginDecision, now: number): Promise<string | undefined>;
  /**
   * One poll of a device code by `clientId`: counts it (a poll sooner than the interval after the
   * last one is `slow_down`, and adds {@link SLOW_DOWN_STEP_S} to the interval), and says what
   * the login is waiting for.
   */
  poll(deviceCodeHash: string, clientId: string, now: number): Promise<LoginPoll>;
  /**
   * Redeems an approved login: its device code is consumed and the family made with its first
   * refresh token, at once; false when it was consumed or expired meanwhile.
   */
  redeem(deviceCodeHash: string, loginId: string, now: number, family: FamilyInfo, first: IssuedRefresh): Promise<boolean>;
  /** The live family of a refresh token, and whether the token is its current one (else it was rotated). */
  familyOf(tokenHash: string, now: number): Promise<{ family: FamilyInfo; current: boolean } | undefined>;
  /**
   * Rotates a family's refresh token: only when `fromHash` is still its current, live token
   * (one winner when two nodes race); then `next` is current, issued in `organizationId`.
   */
  rotate(familyId: string, fromHash: string, next: IssuedRefresh, organizationId: string, now: number): Promise<boolean>;
  /** Revokes a family: every refresh token of it stops working; undefined when unknown (or revoked already). */
  revoke(familyId: string, now: number): Promise<RevokedFamily | undefined>;
}

interface Family extends FamilyInfo {
  /** Hash of the one refresh token that may be used; every other one of the family is rotated. */
  current: string;
  /** Hashes of every refresh token the family issued that has not expired. */
  tokens: Set<string>;
  /** Access tokens it issued: jti → when they stop being accepted. */
  accessTokens: Map<string, number>;
}

/** Memory hygiene only: expiry is checked on every lookup. */
const PRUNE_EVERY_MS = 60_000;

/**
 * Pending logins and refresh-token families in this process's memory: the memory engine's, and
 * a hub's without an engine.
 *
 * @example
 * const store = new MemoryLoginStore();
 * await store.start(login, login.expiresAt + 600_000); // true
 * await store.poll(login.deviceCodeHash, login.clientId, now); // { state: 'pending', loginId }
 */
export class MemoryLoginStore implements LoginStore {
  readonly #byDeviceCode = new Map<string, PendingLogin & { keepUntil: number }>();
  readonly #byUserCode = new Map<string, PendingLogin>();
  readonly #refreshTokens = new Map<string, { familyId: string; expiresAt: number }>();
  readonly #families = new Map<string, Family>();
  #nextPruneAt = 0;

  async start(login: PendingLogin, now: number, keepUntil: number): Promise<boolean> {
    this.#prune(now);
    if (this.#live(login.userCodeHash, now)) return false;
    const kept = { ...login, keepUntil };
    this.#byDeviceCode.set(login.deviceCodeHash, kept);
    this.#byUserCode.set(login.userCodeHash, kept);
    return true;
  }

  async waiting(userCodeHash: string, now: number): Promise<PendingLogin | undefined> {
    const login = this.#live(userCodeHash, now);
    return login && structuredClone(login);
  }

  async decide(userCodeHash: string, decision: LoginDecision, now: number): Promise<string | undefined> {
    const login = this.#live(userCodeHash, now);
    if (!login) return undefined;
    login.decision = structuredClone(decision);
    this.#byUserCode.delete(userCodeHash);
    return login.loginId;
  }

  async poll(deviceCodeHash: string, clientId: string, now: number): Promise<LoginPoll> {
    this.#prune(now);
    const login = this.#byDeviceCode.get(deviceCodeHash);
    if (!login || login.clientId !== clientId || now >= login.keepUntil) return { state: 'unknown' };
    const loginId = login.loginId;
    if (now >= login.expiresAt) return { state: 'expired', loginId };
    const last = login.lastPollAt;
    login.lastPollAt = now;
    if (last !== undefined && now - last < login.intervalS * 1000) {
      login.intervalS += SLOW_DOWN_STEP_S;
      return { state: 'slow_down', loginId };
    }
    const decision = login.decision;
    if (decision === 'denied') return { state: 'denied', loginId };
    if (decision === undefined) return { state: 'pending', loginId };
    return { state: 'approved', loginId, ...decision.approved };
  }

  async redeem(deviceCodeHash: string, loginId: string, now: number, family: FamilyInfo, first: IssuedRefresh): Promise<boolean> {
    const login = this.#byDeviceCode.get(deviceCodeHash);
    if (login?.loginId !== loginId || now >= login.expiresAt || login.decision === undefined || login.decision === 'denied') return false;
    this.#byDeviceCode.delete(deviceCodeHash);
    const made: Family = { ...family, current: '', tokens: new Set(), accessTokens: new Map() };
    this.#families.set(family.id, made);
    this.#issue(made, first);
    return true;
  }

  async familyOf(tokenHash: string, now: number): Promise<{ family: FamilyInfo; current: boolean } | undefined> {
    const family = this.#familyOfToken(tokenHash, now);
    if (!family) return undefined;
    const { id, userId, clientId, organizationId } = family;
    return { family: { id, userId, clientId, organizationId }, current: family.current === tokenHash };
  }

  async rotate(familyId: string, fromHash: string, next: IssuedRefresh, organizationId: string, now: number): Promise<boolean> {
    const family = this.#familyOfToken(fromHash, now);
    if (family?.id !== familyId || family.current !== fromHash) return false;
    family.organizationId = organizationId;
    this.#issue(family, next);
    return true;
  }

  async revoke(familyId: string, now: number): Promise<RevokedFamily | undefined> {
    const family = this.#families.get(familyId);
    if (!family) return undefined;
    this.#families.delete(familyId);
    for (const hash of family.tokens) this.#refreshTokens.delete(hash);
    const accessTokens = [...family.accessTokens].filter(([, until]) => until > now).map(([jti]) => jti);
    return { familyId, userId: family.userId, clientId: family.clientId, accessTokens };
  }

  /** The family's next refresh token: the one before it is rotated from now on. */
  #issue(family: Family, issued: IssuedRefresh): void {
    family.current = issued.hash;
    family.tokens.add(issued.hash);
    this.#refreshTokens.set(issued.hash, { familyId: family.id, expiresAt: issued.expiresAt });
    family.accessTokens.set(issued.accessJti, issued.accessUntil);
  }

  #familyOfToken(hash: string, now: number): Family | undefined {
    this.#prune(now);
    const record = this.#refreshTokens.get(hash);
    if (!record || now >= record.expiresAt) return undefined;
    return this.#families.get(record.familyId);
  }

  #live(userCodeHash: string, now: number): PendingLogin | undefined {
    const login = this.#byUserCode.get(userCodeHash);
    return login && now < login.expiresAt ? login : undefined;
  }

  /** Forgets what can no longer be used. */
  #prune(now: number): void {
    if (now < this.#nextPruneAt) return;
    this.#nextPruneAt = now + PRUNE_EVERY_MS;
    for (const [hash, login] of this.#byUserCode) if (now >= login.expiresAt) this.#byUserCode.delete(hash);
    for (const [hash, login] of this.#byDeviceCode) if (now >= login.keepUntil) this.#byDeviceCode.delete(hash);
    for (const [hash, record] of this.#refreshTokens) {
      if (now < record.expiresAt) continue;
      this.#refreshTokens.delete(hash);
      const family = this.#families.get(record.familyId);
      family?.tokens.delete(hash);
      // The current token is the family's newest: once it has expired, so has the family.
      if (family?.current === hash) this.#families.delete(family.id);
    }
    for (const family of this.#families.values()) {
      for (const [jti, until] of family.accessTokens) if (now >= until) family.accessTokens.delete(jti);
    }
  }
}
