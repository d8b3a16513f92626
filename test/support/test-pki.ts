import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiPin } from '../../src/network/tls-options.ts';

/** A PEM certificate and its key, as text and as files. */
export interface Issued {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** The SPKI pin of its public key. */
  pin: string;
}

/** A private CA and what it issued, made with `openssl` in a temp dir; `remove()` deletes it all. */
export interface TestPki {
  dir: string;
  ca: Issued;
  /** For 127.0.0.1 only (no DNS name): through a CONNECT tunnel, Node would check an IP host against `localhost`. */
  server: Issued;
  /** Signed by the CA, for another host name only (`other.test`). */
  otherHost: Issued;
  /** A client certificate for mutual TLS. */
  client: Issued;
  remove(): void;
}

/**
 * Makes a private CA, a server certificate for 127.0.0.1, one for another host,
 * and a client certificate, with the system's `openssl` (EC P-256, valid one day). Nothing is
 * committed: each test run makes its own.
 */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'cloudtether-pki-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const issued = (name: string): Issued => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    const cert = readFileSync(certFile, 'utf8');
    return { cert, key: readFileSync(keyFile, 'utf8'), certFile, keyFile, pin: spkiPin(new X509Certificate(cert)) };
  };
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  key('ca');
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-sha256',
    '-days',
    '1',
    '-subj',
    '/CN=cloudtether test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    'ca.crt',
  );
  const sign = (name: string, subject: string, extensions: string) => {
    key(name);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), extensions);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    );
  };
  sign('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  sign('other', '/CN=other.test', 'subjectAltName=DNS:other.test\nextendedKeyUsage=serverAuth\n');
  sign('client', '/CN=device-1', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: issued('ca'),
    server: issued('server'),
    otherHost: issued('other'),
    client: issued('client'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
