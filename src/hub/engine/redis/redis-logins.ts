import type {
  FamilyInfo,
  IssuedRefresh,
  LoginDecision,
  LoginPoll,
  LoginStore,
  PendingLogin,
  RevokedFamily,
} from '../../auth/login-store.ts';
import { SLOW_DOWN_STEP_S } from '../../auth/login-store.ts';
import type { RedisConnection } from './redis-connection.ts';
import type { RedisKeys } from './redis-keys.ts';

// Keys a script builds from a prefix (a family's refresh tokens, the login a user code names) are
// not declared: the engine runs on one Redis, not Redis Cluster (docs/scaling.md, "Not yet").

/**
 * A login is kept unless a live one holds its user code. KEYS: the login, its user code; ARGV:
 * now, keep-until, id, client, user-code hash, expires-at, interval, device-code hash.
 */
const START_LUA = `
local now = tonumber(ARGV[1])
local held = redis.call('GET', KEYS[2])
if held and tonumber(string.sub(held, 1, string.find(held, ' ') - 1)) > now then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'client', ARGV[4], 'uc', ARGV[5], 'exp', ARGV[6], 'keep', ARGV[2], 'int', ARGV[7], 'dec', '')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(ARGV[2]) - now))
redis.call('SET', KEYS[2], ARGV[6] .. ' ' .. ARGV[8], 'PX', math.max(1, tonumber(ARGV[6]) - now))
return 1
`;

/**
 * Decides the live, undecided login a user code names; the code waits no more. KEYS: the user
 * code; ARGV: now, decision, user, organization, the logins' key prefix. Returns the login id.
 */
const DECIDE_LUA = `
local held = redis.call('GET', KEYS[1])
if not held then return false end
local sp = string.find(held, ' ')
if tonumber(string.sub(held, 1, sp - 1)) <= tonumber(ARGV[1]) then return false end
local login = ARGV[5] .. string.sub(held, sp + 1)
if redis.call('HGET', login, 'dec') ~= '' then return false end
redis.call('HSET', login, 'dec', ARGV[2], 'user', ARGV[3], 'org', ARGV[4])
redis.call('DEL', KEYS[1])
return redis.call('HGET', login, 'id')
`;

/** One poll, counted (RFC 8628 §3.5 slow_down). KEYS: the login; ARGV: client, now, slow-down step. */
const POLL_LUA = `
local f = redis.call('HMGET', KEYS[1], 'id', 'client', 'exp', 'keep', 'int', 'last', 'dec', 'user', 'org')
local now = tonumber(ARGV[2])
if not f[1] or f[2] ~= ARGV[1] or now >= tonumber(f[4]) then return {'unknown'} end
if now >= tonumber(f[3]) then return {'expired', f[1]} end
local interval = tonumber(f[5])
redis.call('HSET', KEYS[1], 'last', ARGV[2])
if f[6] and now - tonumber(f[6]) < interval * 1000 then
  redis.call('HSET', KEYS[1], 'int', interval + tonumber(ARGV[3]))
  return {'slow_down', f[1]}
end
if f[7] == 'denied' then return {'denied', f[1]} end
if f[7] ~= 'approved' then return {'pending', f[1]} end
return {'approved', f[1], f[8], f[9]}
`;

/**
 * Consumes an approved login and makes its family, at once. KEYS: the login, the family, its
 * tokens, its access tokens, the first refresh token; ARGV: login id, now, family id, user,
 * client, organization, token hash, token expiry, access jti, access until.
 */
const REDEEM_LUA = `
local f = redis.call('HMGET', KEYS[1], 'id', 'exp', 'dec')
local now = tonumber(ARGV[2])
if f[1] ~= ARGV[1] or now >= tonumber(f[2]) or f[3] ~= 'approved' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'user', ARGV[4], 'client', ARGV[5], 'org', ARGV[6], 'current', ARGV[7])
redis.call('SADD', KEYS[3], ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[10], ARGV[9])
redis.call('HSET', KEYS[5], 'fam', ARGV[3], 'exp', ARGV[8])
local ttl = math.max(1, tonumber(ARGV[8]) - now)
for i = 2, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
return 1
`;

/**
 * Rotates only from the family's current, live token: one winner. KEYS: the family, its tokens,
 * its access tokens, the presented token, the next token; ARGV: now, presented hash, next hash,
 * next expiry, access jti, access until, organization, family id. The family lives as long as its
 * newest token.
 */
const ROTATE_LUA = `
local now = tonumber(ARGV[1])
local r = redis.call('HMGET', KEYS[4], 'fam', 'exp')
if r[1] ~= ARGV[8] or now >= tonumber(r[2]) then return 0 end
if redis.call('HGET', KEYS[1], 'current') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'current', ARGV[3], 'org', ARGV[7])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
redis.call('HSET', KEYS[5], 'fam', ARGV[8], 'exp', ARGV[4])
local ttl = math.max(1, tonumber(ARGV[4]) - now)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
redis.call('PEXPIRE', KEYS[5], ttl)
return 1
`;

/**
 * Revokes a family: its refresh tokens go, and the access tokens still accepted are answered.
 * KEYS: the family, its tokens, its access tokens; ARGV: now, the refresh tokens' key prefix.
 */
const REVOKE_LUA = `
local f = redis.call('HMGET', KEYS[1], 'user', 'client')
if not f[1] then return false end
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', ARGV[2] .. hash) end
local live = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return {f[1], f[2], live}
`;

/**
 * Pending device logins and refresh-token families in Redis, shared by every hub node on it: a
 * login started on one node is approved on another and polled on a third; a refresh token issued
 * by one node refreshes on any; a rotated one presented again anywhere revokes its family.
 * Each change is one script, so a device code is redeemed once and a refresh token rotated once
 * however many nodes race. Everything has a TTL: a login to one device-code lifetime past its
 * expiry, a family and its tokens to the expiry of its newest refresh token.
 *
 * @example
 * const logins = new UserLogins({ ...options, store: new RedisLogins(connection, keys) });
 */
export class RedisLogins implements LoginStore {
  readonly #connection: RedisConnection;
  readonly #keys: RedisKeys['logins'];
  readonly #start;
  readonly #decide;
  readonly #poll;
  readonly #redeem;
  readonly #rotate;
  readonly #revoke;

  constructor(connection: RedisConnection, keys: RedisKeys) {
    this.#connection = connection;
    this.#keys = keys.logins;
    this.#start = connection.script('ctLoginStart', START_LUA);
    this.#decide = connection.script('ctLoginDecide', DECIDE_LUA);
    this.#poll = connection.script('ctLoginPoll', POLL_LUA);
    this.#redeem = connection.script('ctLoginRedeem', REDEEM_LUA);
    this.#rotate = connection.script('ctFamilyRotate', ROTATE_LUA);
    this.#revoke = connection.script('ctFamilyRevoke', REVOKE_LUA);
  }

  async start(login: PendingLogin, now: number, keepUntil: number): Promise<boolean> {
    const keys = [this.#keys.device(login.deviceCodeHash), this.#keys.user(login.userCodeHash)];
    const args = [
      now,
      keepUntil,
      login.loginId,
      login.clientId,
      login.userCodeHash,
      login.expiresAt,
      login.intervalS,
      login.deviceCodeHash,
    ];
    return (await this.#start(keys, args)) === 1;
  }

  async waiting(userCodeHash: string, now: number): Promise<PendingLogin | undefined> {
    const client = await this.#connection.ready();
    const held = await client.get(this.#keys.user(userCodeHash));
    const [expiresAt, deviceCodeHash] = held?.split(' ') ?? [];
    if (deviceCodeHash === undefined || Number(expiresAt) <= now) return undefined;
    const f = await client.hgetall(this.#keys.device(deviceCodeHash));
    if (f.id === undefined || f.dec !== '') return undefined;
    return {
      loginId: f.id,
      clientId: f.client ?? '',
      deviceCodeHash,
      userCodeHash,
      expiresAt: Number(f.exp),
      intervalS: Number(f.int),
      lastPollAt: f.last === undefined ? undefined : Number(f.last),
      decision: undefined,
    };
  }

  async decide(userCodeHash: string, decision: LoginDecision, now: number): Promise<string | undefined> {
    const [dec, user, org] =
      decision === 'denied' ? ['denied', '', ''] : ['approved', decision.approved.userId, decision.approved.organizationId];
    const loginId = await this.#decide([this.#keys.user(userCodeHash)], [now, dec, user, org, this.#keys.devicePrefix]);
    return typeof loginId === 'string' ? loginId : undefined;
  }

  async poll(deviceCodeHash: string, clientId: string, now: number): Promise<LoginPoll> {
    const [state, loginId, userId, organizationId] = (await this.#poll(
      [this.#keys.device(deviceCodeHash)],
      [clientId, now, SLOW_DOWN_STEP_S],
    )) as string[];
    if (state === 'approved') return { state, loginId: loginId!, userId: userId!, organizationId: organizationId! };
    if (state === 'expired' || state === 'slow_down' || state === 'pending' || state === 'denied') return { state, loginId: loginId! };
    return { state: 'unknown' };
  }

  async redeem(deviceCodeHash: string, loginId: string, now: number, family: FamilyInfo, first: IssuedRefresh): Promise<boolean> {
    const { f, t, a } = this.#keys.family(family.id);
    const keys = [this.#keys.device(deviceCodeHash), f, t, a, this.#keys.refresh(first.hash)];
    const args = [
      loginId,
      now,
      family.id,
      family.userId,
      family.clientId,
      family.organizationId,
      first.hash,
      first.expiresAt,
      first.accessJti,
      first.accessUntil,
    ];
    return (await this.#redeem(keys, args)) === 1;
  }

  async familyOf(tokenHash: string, now: number): Promise<{ family: FamilyInfo; current: boolean } | undefined> {
    const client = await this.#connection.ready();
    const [id, expiresAt] = await client.hmget(this.#keys.refresh(tokenHash), 'fam', 'exp');
    if (!id || now >= Number(expiresAt)) return undefined;
    const [userId, clientId, organizationId, current] = await client.hmget(this.#keys.family(id).f, 'user', 'client', 'org', 'current');
    if (!userId || !clientId || !organizationId) return undefined;
    return { family: { id, userId, clientId, organizationId }, current: current === tokenHash };
  }

  async rotate(familyId: string, fromHash: string, next: IssuedRefresh, organizationId: string, now: number): Promise<boolean> {
    const { f, t, a } = this.#keys.family(familyId);
    const keys = [f, t, a, this.#keys.refresh(fromHash), this.#keys.refresh(next.hash)];
    const args = [now, fromHash, next.hash, next.expiresAt, next.accessJti, next.accessUntil, organizationId, familyId];
    return (await this.#rotate(keys, args)) === 1;
  }

  async revoke(familyId: string, now: number): Promise<RevokedFamily | undefined> {
    const { f, t, a } = this.#keys.family(familyId);
    const revoked = (await this.#revoke([f, t, a], [now, this.#keys.refreshPrefix])) as [string, string, string[]] | null;
    if (!revoked) return undefined;
    const [userId, clientId, accessTokens] = revoked;
    return { familyId, userId, clientId, accessTokens };
  }
}
