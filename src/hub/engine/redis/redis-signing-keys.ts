import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import type { Logger } from '../../../log/logger.ts';
import { HubError } from '../../core/errors.ts';
import { type MemorySigningKeysOptions, type SigningKey, type SigningKeys, TOKEN_ALG } from '../../auth/signing-keys.ts';
import { defineScript, type RedisScript } from './redis-client.ts';
import type { RedisKeys } from './redis-keys.ts';
import { WriteThrough } from './write-through.ts';

/** A key as Redis keeps it: both halves as JWKs (the private one so another process can sign). */
interface StoredKey {
  private: JWK;
  public: JWK;
}

// KEYS jwks current; ARGV kid key. The first key made wins; answers the kid that signs and its key.
const FIRST = `
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local kid = redis.call('GET', KEYS[2])
return { kid, redis.call('HGET', KEYS[1], kid) }`;

// KEYS jwks drop current; ARGV kid key dropAt. The new key signs; the one before is dropped at dropAt.
const ROTATE = `
local old = redis.call('GET', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[1])
if old and redis.call('HEXISTS', KEYS[2], old) == 0 then redis.call('HSET', KEYS[2], old, ARGV[3]) end
return 1`;

// KEYS drop; ARGV kid until. A retired key outlives every token it signed.
const SIGNED = `
local at = redis.call('HGET', KEYS[1], ARGV[1])
if at and tonumber(at) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`;

interface VerificationKey {
  publicKey: CryptoKey;
  jwk: JWK;
  dropAt: number | undefined;
}

/**
 * Signing keys kept in Redis, so a token signed before a restart verifies after it. The key pair
 * is made extractable only to store it; the key that signs is imported back non-extractable.
 * The first key is claimed atomically (two hubs starting at once sign with the same one); a
 * rotation makes the new key sign and dates the old one's drop in one script. Verification reads
 * this process's copy, loaded on `open()`.
 *
 * Who can read the Redis can sign the hub's tokens: keep it private (docs/scaling.md).
 */
export class RedisSigningKeys implements SigningKeys {
  readonly #options: MemorySigningKeysOptions;
  readonly #keys = new Map<string, VerificationKey>();
  readonly #writes: WriteThrough;
  #signing: Promise<SigningKey> | undefined;
  /** The key that signed when the engine opened, if any. */
  #stored: Promise<SigningKey> | undefined;
  #store: { client: Redis; keys: RedisKeys; first: RedisScript; rotate: RedisScript; signed: RedisScript } | undefined;
  /** Settles when the engine has read the keys back (or could not); undefined until it starts to. */
  #opened: Promise<void> | undefined;
  #settleOpened: { resolve: () => void; reject: (error: unknown) => void } | undefined;

  /** Told when this process made a key that signs (the first, or a rotation): other hub nodes read it (`reload`). */
  readonly #changed: () => void;

  constructor(options: MemorySigningKeysOptions, logger: Logger, changed: () => void = () => {}) {
    this.#options = options;
    this.#writes = new WriteThrough(logger, 'signing keys');
    this.#changed = changed;
  }

  /**
   * Reads the keys again (another hub node made one): keys it did not know verify from now on,
   * and the key that signs is the one Redis names.
   */
  async reload(): Promise<void> {
    const store = this.#store;
    if (!store) return;
    const { jwks, drop, current } = store.keys.signingKeys;
    // A signer made here meanwhile (a rotation) is newer than what this read finds: it stays. One
    // being made when the note came is waited for first, so the read finds its key stored: read
    // before, the key it replaces would be taken back as the one that signs.
    const before = this.#signing;
    const signing = await before?.catch(() => undefined);
    const [stored, drops, kid] = await Promise.all([store.client.hgetall(jwks), store.client.hgetall(drop), store.client.get(current)]);
    // The signer first: once a new key is listed, tokens signed here use it.
    const text = kid === null ? undefined : stored[kid];
    if (kid !== null && text !== undefined && signing?.kid !== kid) {
      const key = JSON.parse(text) as StoredKey;
      const privateKey = (await importJWK(key.private, TOKEN_ALG, { extractable: false })) as CryptoKey;
      if (this.#signing === before) this.#signing = Promise.resolve({ kid, privateKey });
    }
    for (const [id, text] of Object.entries(stored)) {
      const dropAt = drops[id] === undefined ? undefined : Number(drops[id]);
      const known = this.#keys.get(id);
      if (known) {
        if (dropAt !== undefined) known.dropAt = Math.max(known.dropAt ?? 0, dropAt);
        continue;
      }
      const key = JSON.parse(text) as StoredKey;
      this.#keys.set(id, { publicKey: (await importJWK(key.public, TOKEN_ALG)) as CryptoKey, jwk: key.public, dropAt });
    }
    this.#prune();
  }

  /** The engine starts to open: key calls from now on wait for it. */
  opening(): void {
    this.#opened = new Promise((resolve, reject) => (this.#settleOpened = { resolve, reject }));
    // Nobody may be waiting yet.
    this.#opened.catch(() => {});
  }

  /** The engine could not open: key calls waiting for it fail with why. */
  failed(error: unknown): void {
    this.#settleOpened?.reject(error);
  }

  /** Key calls wait for the engine to open; before `listen()` started it they are refused. */
  #whenOpen(): Promise<void> {
    return (
      this.#opened ??
      Promise.reject(new HubError('invalid_state', 'the Redis engine opens with listen(): issue tokens once the hub listens'))
    );
  }

  /** Reads back every key still verifying, and which one signs. */
  async open(client: Redis, keys: RedisKeys): Promise<void> {
    const { jwks, drop, current } = keys.signingKeys;
    this.#store = {
      client,
      keys,
      first: defineScript(client, 'ctKeysFirst', FIRST),
      rotate: defineScript(client, 'ctKeysRotate', ROTATE),
      signed: defineScript(client, 'ctKeysSigned', SIGNED),
    };
    const [stored, drops, kid] = await Promise.all([client.hgetall(jwks), client.hgetall(drop), client.get(current)]);
    const now = this.#options.now();
    for (const [id, text] of Object.entries(stored)) {
      const dropAt = drops[id] === undefined ? undefined : Number(drops[id]);
      if (dropAt !== undefined && now >= dropAt) continue;
      const key = JSON.parse(text) as StoredKey;
      this.#keys.set(id, { publicKey: (await importJWK(key.public, TOKEN_ALG)) as CryptoKey, jwk: key.public, dropAt });
      if (id === kid)
        this.#stored = importJWK(key.private, TOKEN_ALG, { extractable: false }).then((privateKey) => ({
          kid: id,
          privateKey: privateKey as CryptoKey,
        }));
    }
    this.#settleOpened?.resolve();
  }

  current(): Promise<SigningKey> {
    if (this.#signing) return this.#signing;
    const first = this.#whenOpen().then(() => this.#stored ?? this.#claimFirst());
    this.#signing = first;
    first.catch(() => {
      if (this.#signing === first) this.#signing = undefined;
    });
    return first;
  }

  async rotate(): Promise<string> {
    await this.#whenOpen();
    const store = this.#store!;
    const previous = this.#signing;
    const next = this.#generate().then(async ({ kid, stored, key }) => {
      const { jwks, drop, current } = store.keys.signingKeys;
      await store.rotate([jwks, drop, current], [kid, JSON.stringify(stored), this.#options.now() + this.#options.retireAfterMs]);
      return { kid, key };
    });
    const signing = next.then(({ key }) => key);
    this.#signing = signing;
    let kid: string;
    try {
      ({ kid } = await next);
    } catch (error) {
      if (this.#signing === signing) this.#signing = previous;
      throw error;
    }
    this.#changed();
    const old = await previous?.catch(() => undefined);
    const retired = old && this.#keys.get(old.kid);
    if (retired && retired.dropAt === undefined) retired.dropAt = this.#options.now() + this.#options.retireAfterMs;
    return kid;
  }

  verificationKey(kid: string): CryptoKey | undefined {
    this.#prune();
    return this.#keys.get(kid)?.publicKey;
  }

  signed(kid: string, until: number): void {
    const key = this.#keys.get(kid);
    if (key?.dropAt === undefined) return;
    key.dropAt = Math.max(key.dropAt, until);
    const store = this.#store!;
    this.#writes.issue(store.signed([store.keys.signingKeys.drop], [kid, until]));
  }

  async jwks(): Promise<JSONWebKeySet> {
    await this.current();
    this.#prune();
    return { keys: Array.from(this.#keys.values(), ({ jwk }) => ({ ...jwk })) };
  }

  /** Resolves once the writes so far are stored (or failed: logged). */
  async settled(): Promise<void> {
    await this.#writes.settled()?.catch(() => {});
  }

  /** Makes a key and offers it as the first; takes whichever key Redis holds as the first. */
  async #claimFirst(): Promise<SigningKey> {
    const store = this.#store!;
    const { kid, stored } = await this.#generate();
    const { jwks, current } = store.keys.signingKeys;
    const [winner, text] = (await store.first([jwks, current], [kid, JSON.stringify(stored)])) as [string, string];
    const key = JSON.parse(text) as StoredKey;
    if (!this.#keys.has(winner))
      this.#keys.set(winner, { publicKey: (await importJWK(key.public, TOKEN_ALG)) as CryptoKey, jwk: key.public, dropAt: undefined });
    if (winner !== kid) this.#keys.delete(kid);
    else this.#changed();
    return { kid: winner, privateKey: (await importJWK(key.private, TOKEN_ALG, { extractable: false })) as CryptoKey };
  }

  /** A new key pair, known here (not yet signing), with what Redis is to keep of it. */
  async #generate(): Promise<{ kid: string; stored: StoredKey; key: SigningKey }> {
    const make = this.#options.generateKeyPair ?? (() => generateKeyPair(TOKEN_ALG, { extractable: true }));
    const { privateKey, publicKey } = await make();
    if (!privateKey.extractable) {
      throw new Error('the Redis engine keeps signing keys in Redis: tokens.generateKeyPair must make an extractable private key');
    }
    const kid = randomBytes(12).toString('base64url');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' };
    const stored: StoredKey = { private: await exportJWK(privateKey), public: jwk };
    this.#keys.set(kid, { publicKey, jwk, dropAt: undefined });
    const signing = (await importJWK(stored.private, TOKEN_ALG, { extractable: false })) as CryptoKey;
    return { kid, stored, key: { kid, privateKey: signing } };
  }

  #prune(): void {
    const now = this.#options.now();
    for (const [kid, key] of this.#keys) if (key.dropAt !== undefined && now >= key.dropAt) this.#keys.delete(kid);
  }
}
