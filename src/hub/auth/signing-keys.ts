import { randomBytes } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';
import type { SigningKeyPair } from '../core/signing-key-pair.ts';

/** The one signature algorithm the hub issues and accepts. */
export const TOKEN_ALG = 'ES256';

/** The key that signs now, named by its `kid`. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

/**
 * The token authority's keys: the one that signs now, and every public key that still verifies
 * a live token. What the authority needs of where its keys are kept, so that can change without it.
 */
export interface SigningKeys {
  /** The key that signs now; the first is made on first use. */
  current(): Promise<SigningKey>;
  /** Makes a new key sign from now on and retires the current one. Resolves with the new `kid`. */
  rotate(): Promise<string>;
  /** The public key of `kid` while it verifies; undefined for a key never made, or dropped. */
  verificationKey(kid: string): CryptoKey | undefined;
  /** A token signed with `kid` is valid until `until` (ms since the epoch): a retired key must outlive it. */
  signed(kid: string, until: number): void;
  /** The public keys that verify tokens now, as a JSON Web Key Set. */
  jwks(): Promise<JSONWebKeySet>;
}

/** Options of {@link MemorySigningKeys}. */
export interface MemorySigningKeysOptions {
  /** Makes a key pair; default jose's `generateKeyPair('ES256')`, the private half not extractable. */
  generateKeyPair?: () => Promise<SigningKeyPair>;
  now: () => number;
  /** How long a retired key keeps verifying: the longest a token it signed can still be valid (lifetime + leeway). */
  retireAfterMs: number;
}

interface VerificationKey {
  publicKey: CryptoKey;
  jwk: JWK;
  /** Set once the key stops signing: when it can no longer have a live token. */
  dropAt: number | undefined;
}

/**
 * Signing keys in this process's memory, each named by a random `kid`: made on first use and one
 * per rotation. A retired key is dropped once every token it signed has expired.
 *
 * @example
 * const keys = new MemorySigningKeys({ now: Date.now, retireAfterMs: 905_000 });
 * const { kid, privateKey } = await keys.current();
 * keys.verificationKey(kid); // the public half
 */
export class MemorySigningKeys implements SigningKeys {
  readonly #options: MemorySigningKeysOptions;
  readonly #keys = new Map<string, VerificationKey>();
  #signing: Promise<SigningKey> | undefined;

  constructor(options: MemorySigningKeysOptions) {
    this.#options = options;
  }

  /** Keys are made on first use: creating a hub costs nothing when nobody asks for a token. */
  current(): Promise<SigningKey> {
    if (this.#signing) return this.#signing;
    const first = this.#generate();
    this.#signing = first;
    // A failed generation must not stick: the next call tries again.
    first.catch(() => {
      if (this.#signing === first) this.#signing = undefined;
    });
    return first;
  }

  async rotate(): Promise<string> {
    const previous = this.#signing;
    const next = this.#generate();
    this.#signing = next;
    let key: SigningKey;
    try {
      key = await next;
    } catch (error) {
      if (this.#signing === next) this.#signing = previous;
      throw error;
    }
    const old = await previous?.catch(() => undefined);
    const retired = old && this.#keys.get(old.kid);
    if (retired && retired.dropAt === undefined) {
      const { retireAfterMs, now } = this.#options;
      retired.dropAt = now() + retireAfterMs;
    }
    return key.kid;
  }

  verificationKey(kid: string): CryptoKey | undefined {
    this.#prune();
    return this.#keys.get(kid)?.publicKey;
  }

  signed(kid: string, until: number): void {
    // A rotation while this one was signing: the retired key must outlive this token too.
    const key = this.#keys.get(kid);
    if (key?.dropAt !== undefined) key.dropAt = Math.max(key.dropAt, until);
  }

  async jwks(): Promise<JSONWebKeySet> {
    await this.current();
    this.#prune();
    return { keys: Array.from(this.#keys.values(), ({ jwk }) => ({ ...jwk })) };
  }

  async #generate(): Promise<SigningKey> {
    // The private key stays non-extractable: only the public half is ever exported.
    const { privateKey, publicKey } = await (this.#options.generateKeyPair ?? (() => generateKeyPair(TOKEN_ALG)))();
    const kid = randomBytes(12).toString('base64url');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: TOKEN_ALG, use: 'sig' };
    this.#keys.set(kid, { publicKey, jwk, dropAt: undefined });
    return { kid, privateKey };
  }

  #prune(): void {
    const now = this.#options.now();
    for (const [kid, key] of this.#keys) if (key.dropAt !== undefined && now >= key.dropAt) this.#keys.delete(kid);
  }
}
