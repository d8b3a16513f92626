// The vocabulary of network failures, shared by the adapters that find them (src/adapters,
// src/network) and the machines that report them: a leaf, so both may import it.

/**
 * Why a connection could not be made, when the network says more than "refused": the hub's
 * certificate is not trusted, names another host or fails a pin; the hub refused this side's
 * client certificate; the proxy wants credentials or cannot be reached. Each is a connection
 * reason and an `HttpError` kind (docs/operations.md, "Networks", says how to fix each).
 */
export type NetworkFailureReason =
  | 'tls_untrusted_certificate'
  | 'tls_hostname_mismatch'
  | 'tls_pin_mismatch'
  | 'tls_client_certificate_rejected'
  | 'proxy_auth_required'
  | 'proxy_unreachable';

/** A network failure as the socket reports it: its reason, and a message naming the host and the remedy. */
export interface NetworkFailureReport {
  reason: NetworkFailureReason;
  message: string;
}

/** Every {@link NetworkFailureReason}, for telling one apart from other error kinds. */
export const NETWORK_FAILURE_REASONS: readonly NetworkFailureReason[] = [
  'tls_untrusted_certificate',
  'tls_hostname_mismatch',
  'tls_pin_mismatch',
  'tls_client_certificate_rejected',
  'proxy_auth_required',
  'proxy_unreachable',
];

/** Whether `kind` (an `HttpError` kind, a close reason) is one of the {@link NetworkFailureReason}s. */
export function isNetworkFailureReason(kind: string): kind is NetworkFailureReason {
  return (NETWORK_FAILURE_REASONS as readonly string[]).includes(kind);
}
