import type { CryptoKey } from 'jose';

/**
 * An ES256 (P-256 ECDSA) key pair with `sign` and `verify` usages. The authority makes one on
 * first use and one per rotation; by default with jose's `generateKeyPair('ES256')`, the
 * private half not extractable.
 */
export interface SigningKeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}
