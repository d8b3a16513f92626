import { z } from 'zod';

/** An SPKI pin: the base64 SHA-256 of a certificate's SubjectPublicKeyInfo (44 characters), optionally `sha256/`-prefixed. */
const Pin = z
  .string()
  .transform((value) => value.replace(/^sha256\//, ''))
  .pipe(
    z
      .string()
      .regex(
        /^[A-Za-z0-9+/]{43}=$/,
        'must be a base64 SHA-256 (44 characters), e.g. from `openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`',
      ),
  );

/** A proxy URL: http(s)://[user:password@]host:port, or `none` for no proxy at all. */
const Proxy = z.union([
  z.literal('none'),
  z.string().refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// proxy URL, or "none"'),
]);

/**
 * How the connector reaches the network: one policy for every outbound connection it makes (the
 * hub socket, the token endpoint, login, settings, the REST API, telemetry and its PostHog
 * mirror). docs/operations.md, "Networks", says what each field does and how failures read.
 *
 * - `proxy`: the proxy for every URL (`http://user:pass@proxy:3128`), overriding the
 *   environment; `none` connects directly whatever the environment says. Unset: `https_proxy` /
 *   `HTTPS_PROXY` for wss:// and https://, `http_proxy` / `HTTP_PROXY` for ws:// and http://,
 *   then `all_proxy` / `ALL_PROXY`; the lower-case form wins when both are set.
 * - `noProxy`: hosts reached directly (`NO_PROXY` syntax); overrides `no_proxy` / `NO_PROXY`.
 * - `ca` / `caFile`: more trusted CAs (PEM), added to Node's own and to `NODE_EXTRA_CA_CERTS` /
 *   `SSL_CERT_FILE`.
 * - `clientCert`: a client certificate for mutual TLS (PEM text or files).
 * - `pins`: SPKI pins; a TLS peer whose certificate's key is not one of them is refused.
 * - `requestTimeoutMs`: the default timeout of an HTTP request (30 s).
 */
export const NetworkPolicy = z
  .object({
    proxy: Proxy.optional(),
    noProxy: z.array(z.string().min(1)).optional(),
    ca: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    clientCert: z
      .object({
        cert: z.string().min(1).optional(),
        certFile: z.string().min(1).optional(),
        privateKey: z.string().min(1).optional(),
        privateKeyFile: z.string().min(1).optional(),
        passphrase: z.string().optional(),
      })
      .refine((c) => (c.cert === undefined) !== (c.certFile === undefined), {
        message: 'give the client certificate as cert or certFile, one of them',
      })
      .refine((c) => (c.privateKey === undefined) !== (c.privateKeyFile === undefined), {
        message: 'give the client key as privateKey or privateKeyFile, one of them',
      })
      .optional(),
    pins: z.array(Pin).min(1).optional(),
    requestTimeoutMs: z.number().int().positive().default(30_000),
  })
  .refine((n) => n.ca === undefined || n.caFile === undefined, { message: 'give the CA as ca or caFile, not both', path: ['caFile'] });
export type NetworkPolicy = z.output<typeof NetworkPolicy>;
export type NetworkPolicyInput = z.input<typeof NetworkPolicy>;
