import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkServerIdentity, type PeerCertificate, rootCertificates } from 'node:tls';
import { PIN_MISMATCH_CODE } from './network-failure.ts';
import type { NetworkPolicy } from './network-policy.ts';

/** The TLS options every request to a TLS endpoint carries (`ws`, `https.request`, `tls.connect`). */
export interface TlsRequestOptions {
  ca?: string[];
  cert?: string;
  key?: string;
  passphrase?: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * The TLS options of a policy. Trust: without a CA of its own (`ca`, `caFile`, `SSL_CERT_FILE`)
 * the options name none and Node's defaults apply (its roots and `NODE_EXTRA_CA_CERTS`); with
 * one, the list is Node's roots, `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE` and the policy's CA, as
 * an explicit `ca` replaces Node's defaults. Files are read once, here.
 *
 * @throws {Error} when a named file cannot be read.
 */
export function tlsOptionsOf(policy: NetworkPolicy, env: Record<string, string | undefined>): TlsRequestOptions {
  const own = [
    policy.ca,
    policy.caFile && readFileSync(policy.caFile, 'utf8'),
    env.SSL_CERT_FILE && readFileSync(env.SSL_CERT_FILE, 'utf8'),
  ].filter((pem): pem is string => typeof pem === 'string' && pem !== '');
  const extra = env.NODE_EXTRA_CA_CERTS ? readIfThere(env.NODE_EXTRA_CA_CERTS) : undefined;
  const client = policy.clientCert;
  return {
    ...(own.length > 0 && { ca: [...rootCertificates, ...(extra ? [extra] : []), ...own] }),
    ...(client && {
      cert: client.cert ?? readFileSync(client.certFile!, 'utf8'),
      key: client.privateKey ?? readFileSync(client.privateKeyFile!, 'utf8'),
      ...(client.passphrase !== undefined && { passphrase: client.passphrase }),
    }),
    ...(policy.pins && { checkServerIdentity: pinnedIdentityCheck(policy.pins) }),
  };
}

/**
 * A server identity check that also wants the certificate's public key among `pins` (base64
 * SHA-256 of the DER SubjectPublicKeyInfo, as HPKP and curl's `--pinnedpubkey` write them). The
 * leaf is checked: pin the hub's own key (and the next one, before a rotation).
 */
export function pinnedIdentityCheck(pins: readonly string[]) {
  const wanted = new Set(pins);
  return (host: string, cert: PeerCertificate): Error | undefined => {
    const mismatch = checkServerIdentity(host, cert);
    if (mismatch) return mismatch;
    // `cert.pubkey` is the bare key for EC certificates, not the SubjectPublicKeyInfo: read it from the DER.
    if (cert.raw && wanted.has(spkiPin(new X509Certificate(cert.raw)))) return undefined;
    return Object.assign(new Error(`the public key of ${host} matches no pin`), { code: PIN_MISMATCH_CODE });
  };
}

/** The SPKI pin of a certificate: base64 SHA-256 of its DER SubjectPublicKeyInfo. */
export function spkiPin(cert: X509Certificate): string {
  return createHash('sha256')
    .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

// NODE_EXTRA_CA_CERTS that cannot be read is Node's warning to give, not a reason to fail here.
function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
