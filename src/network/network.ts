import { type Agent as HttpAgentType, Agent as HttpAgent, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { classifyNetworkError, type FailedRoute, type NetworkFailure } from './network-failure.ts';
import { NetworkPolicy, type NetworkPolicyInput } from './network-policy.ts';
import { proxyForUrl, shownProxy } from './proxy-for-url.ts';
import { type TlsRequestOptions, tlsOptionsOf } from './tls-options.ts';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/** How one URL is reached. */
export interface NetworkRoute {
  /** The agent to pass to `ws` or `http(s).request`: direct, a CONNECT tunnel, or a forwarding proxy. */
  agent: HttpAgent;
  /** The proxy, when there is one: its URL (with credentials, for the agent only) and how logs show it. */
  proxy?: { url: URL; shown: string };
  /** What a failure names: the host, and the proxy without credentials. */
  failedRoute: FailedRoute;
}

/**
 * A resolved network policy: the agents and TLS options every outbound connection uses. The
 * socket adapter and the HTTP adapter take the same one, so the hub socket and every HTTP path
 * go through the same proxy with the same trust. One agent per route (direct, or per proxy and
 * kind), kept alive across requests; `close()` drops them.
 */
export interface Network {
  /** The route to `url`. */
  route(url: string | URL): NetworkRoute;
  /** TLS options for requests to TLS endpoints (CA, client certificate, pins). */
  readonly tls: TlsRequestOptions;
  /**
   * The TLS options for a request to `url`: {@link Network.tls}, checking the certificate against
   * `url`'s host. Through a CONNECT tunnel the TLS connection is made without a host name, and for
   * an IP address without SNI either, so Node would check the certificate against `localhost`.
   */
  tlsFor(url: string | URL): TlsRequestOptions;
  /** The default timeout of an HTTP request. */
  readonly requestTimeoutMs: number;
  /**
   * The proxy's answer to the CONNECT of `request`, when it was not 200: a refused tunnel. The
   * response the request then sees is the proxy's, not the server's (a 401 or 407 is the proxy
   * wanting credentials).
   */
  tunnelRefusal(request: ClientRequest): number | undefined;
  /** Reads a connection error of `route` as a typed failure, when the network named one. */
  classify(error: unknown, route: NetworkRoute): NetworkFailure | undefined;
  /** Closes the agents' idle sockets. */
  close(): void;
}

/**
 * Resolves a network policy against the environment (proxy variables, `SSL_CERT_FILE`,
 * `NODE_EXTRA_CA_CERTS`).
 *
 * @throws {Error} when a CA or client certificate file cannot be read, or a zod error when the
 * policy is invalid (the connector validates it with its configuration first).
 *
 * @example
 * const network = createNetwork({ proxy: 'http://proxy.corp:3128', caFile: '/etc/corp-ca.pem' });
 * const socket = createWsSocketAdapter({ network });
 * const http = createNodeHttpAdapter({ network });
 */
export function createNetwork(policy: NetworkPolicyInput = {}, env: Record<string, string | undefined> = process.env): Network {
  const parsed = NetworkPolicy.parse(policy);
  const tls = tlsOptionsOf(parsed, env);
  const direct = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  const proxied = new Map<string, HttpAgentType>();
  // Each tunnel's CONNECT answer, by request: `ws` hands its request to no one before the response.
  const refusals = new WeakMap<ClientRequest, number>();
  const settings = { env, ...(parsed.proxy !== undefined && { proxy: parsed.proxy }), ...(parsed.noProxy && { noProxy: parsed.noProxy }) };

  const check = tls.checkServerIdentity ?? checkServerIdentity;
  return {
    tls,
    tlsFor(url) {
      const host = (typeof url === 'string' ? new URL(url) : url).hostname.replace(/^\[|\]$/g, '');
      return { ...tls, checkServerIdentity: (_named: string, cert: PeerCertificate) => check(host, cert) };
    },
    requestTimeoutMs: parsed.requestTimeoutMs,
    route(url) {
      const target = typeof url === 'string' ? new URL(url) : url;
      const secure = target.protocol === 'https:' || target.protocol === 'wss:';
      const host = `${target.hostname}:${target.port || (secure ? 443 : 80)}`;
      const proxy = proxyForUrl(target, settings);
      if (!proxy) return { agent: secure ? direct.https : direct.http, failedRoute: { host } };
      // http:// is forwarded (absolute-form requests); ws://, wss:// and https:// go through a
      // CONNECT tunnel, the only way most proxies carry a WebSocket.
      const forward = target.protocol === 'http:';
      const key = `${forward ? 'forward' : 'tunnel'} ${proxy.href}`;
      let agent = proxied.get(key);
      if (!agent) {
        if (forward) agent = new HttpProxyAgent(proxy, { keepAlive: true });
        else {
          const tunnel = new HttpsProxyAgent(proxy, { keepAlive: true });
          tunnel.on('proxyConnect', (connect: { statusCode: number }, request: ClientRequest) => {
            if (connect.statusCode !== 200) refusals.set(request, connect.statusCode);
          });
          agent = tunnel;
        }
        proxied.set(key, agent);
      }
      const shown = shownProxy(proxy);
      return { agent, proxy: { url: proxy, shown }, failedRoute: { host, proxy: shown } };
    },
    tunnelRefusal: (request) => refusals.get(request),
    classify: (error, route) => classifyNetworkError(error, route.failedRoute),
    close() {
      direct.http.destroy();
      direct.https.destroy();
      for (const agent of proxied.values()) agent.destroy();
      proxied.clear();
    },
  };
}
