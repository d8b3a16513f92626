import type { NetworkFailureReason } from '../util/network-failure-reason.ts';

export type { NetworkFailureReason } from '../util/network-failure-reason.ts';

/** The code of the error a failed SPKI pin check raises (src/network/tls-options.ts). */
export const PIN_MISMATCH_CODE = 'ERR_TLS_PIN_MISMATCH';

/** The code the adapters give a proxy's 407 answer. */
export const PROXY_AUTH_CODE = 'ERR_PROXY_AUTH_REQUIRED';

/** The error for a proxy's 407, for {@link classifyNetworkError} to word. */
export function proxyAuthError(): Error {
  return Object.assign(new Error('the proxy answered 407'), { code: PROXY_AUTH_CODE });
}

/**
 * What a proxy's answer to a request means, when it is the proxy's: a refused tunnel (any
 * CONNECT answer but 200), or a 407 to a forwarded request. A 401 or 407 to a CONNECT is the
 * proxy refusing the credentials (some proxies, tinyproxy among them, answer wrong ones with
 * 401): `proxy_auth_required`. Another refused tunnel is an Error naming the proxy's status.
 */
export function proxyRefusal(status: number, tunnelStatus: number | undefined, route: FailedRoute): Error | undefined {
  if (tunnelStatus !== undefined) {
    if (tunnelStatus === 401 || tunnelStatus === 407) return classifyNetworkError(proxyAuthError(), route);
    return Object.assign(new Error(`the proxy ${route.proxy ?? ''} refused a tunnel to ${route.host} (${tunnelStatus})`), {
      code: 'ERR_PROXY_TUNNEL_REFUSED',
    });
  }
  return route.proxy !== undefined && status === 407 ? classifyNetworkError(proxyAuthError(), route) : undefined;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
]);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE']);
const CLIENT_CERT_ALERT = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|HANDSHAKE_FAILURE|ACCESS_DENIED)/;

/** Where a failed connection was going: the host, and the proxy (credentials redacted) when there was one. */
export interface FailedRoute {
  /** `host:port` of the hub or service. */
  host: string;
  /** The proxy, as {@link shownProxy} writes it. */
  proxy?: string;
}

/**
 * A connection that failed for a reason the network named, worded for the person who must fix
 * it: the reason, the host (and proxy), and the remedy. Never carries credentials.
 */
export class NetworkFailure extends Error {
  override readonly name = 'NetworkFailure';
  constructor(
    readonly reason: NetworkFailureReason,
    message: string,
    readonly route: FailedRoute,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Reads a connection error as a {@link NetworkFailure}, or undefined when it is an ordinary one
 * (refused, reset by the hub, a timeout): those stay `connection_refused` or `network`.
 * Connection errors of a proxied route are the proxy's: the proxy, not the hub, is what this
 * side connects to.
 */
export function classifyNetworkError(error: unknown, route: FailedRoute): NetworkFailure | undefined {
  if (error instanceof NetworkFailure) return error;
  const code = codeOf(error);
  if (code === undefined) return undefined;
  const { host, proxy } = route;
  const fail = (reason: NetworkFailureReason, text: string) => new NetworkFailure(reason, `${reason}: ${text}`, route, code);
  if (UNTRUSTED.has(code)) {
    return fail(
      'tls_untrusted_certificate',
      `the certificate of ${host} is not trusted (${code}); add the CA that signed it with network.caFile (CLOUDTETHER_CA_FILE) or NODE_EXTRA_CA_CERTS${proxy ? `; an inspecting proxy (${proxy}) needs its own CA there` : ''}`,
    );
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return fail(
      'tls_hostname_mismatch',
      `the certificate of ${host} is for another host name; connect with a host name the certificate names, or fix the certificate`,
    );
  }
  if (code === PIN_MISMATCH_CODE) {
    return fail(
      'tls_pin_mismatch',
      `the public key of ${host} matches none of network.pins; update the pins if the hub's key was rotated, else something is intercepting the connection`,
    );
  }
  if (CLIENT_CERT_ALERT.test(code)) {
    return fail(
      'tls_client_certificate_rejected',
      `${host} refused this side's client certificate (${code}); give one it trusts with network.clientCert (CLOUDTETHER_CLIENT_CERT_FILE, CLOUDTETHER_CLIENT_KEY_FILE)`,
    );
  }
  if (code === PROXY_AUTH_CODE) {
    return fail(
      'proxy_auth_required',
      `the proxy ${proxy ?? '(unknown)'} wants credentials for ${host} (407); put user:password in the proxy URL (network.proxy or HTTPS_PROXY)`,
    );
  }
  if (proxy !== undefined && UNREACHABLE.has(code)) {
    return fail(
      'proxy_unreachable',
      `cannot reach the proxy ${proxy} on the way to ${host} (${code}); check the proxy address (network.proxy, HTTPS_PROXY, HTTP_PROXY) or set network.proxy to "none"`,
    );
  }
  return undefined;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code ?? (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}
