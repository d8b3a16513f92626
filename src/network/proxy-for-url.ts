/** Where proxy settings come from: the policy's explicit ones, else the environment. */
export interface ProxySettings {
  /** An explicit proxy URL, or `none`; overrides the environment. */
  proxy?: string;
  /** Hosts reached directly; overrides `no_proxy` / `NO_PROXY`. */
  noProxy?: readonly string[];
  /** The environment to read (`process.env`). */
  env: Record<string, string | undefined>;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'ws:': 80, 'https:': 443, 'wss:': 443 };

/**
 * The proxy to reach `target` through, or undefined to connect directly.
 *
 * An explicit `proxy` wins (`none`: never a proxy). Otherwise the environment, as curl reads it:
 * `https_proxy` for https:// and wss://, `http_proxy` for http:// and ws://, then `all_proxy`;
 * each in lower case first, then upper case. A proxy without a scheme is `http://`. `NO_PROXY`
 * (or the policy's `noProxy`) applies to both: see {@link bypassesProxy}.
 *
 * @example
 * proxyForUrl(new URL('wss://hub.example.com/v1/connect'), { env: { HTTPS_PROXY: 'http://proxy:3128' } }); // URL http://proxy:3128
 */
export function proxyForUrl(target: URL, settings: ProxySettings): URL | undefined {
  const { env } = settings;
  const read = (name: string) => nonEmpty(env[name.toLowerCase()]) ?? nonEmpty(env[name.toUpperCase()]);
  const noProxy = settings.noProxy ?? splitList(read('no_proxy') ?? '');
  if (bypassesProxy(target, noProxy)) return undefined;
  const secure = target.protocol === 'https:' || target.protocol === 'wss:';
  const chosen = settings.proxy ?? read(secure ? 'https_proxy' : 'http_proxy') ?? read('all_proxy');
  if (chosen === undefined || chosen === 'none') return undefined;
  try {
    return new URL(chosen.includes('://') ? chosen : `http://${chosen}`);
  } catch {
    // An unparseable proxy variable is a misconfiguration the connection failure will show.
    return new URL('http://invalid-proxy-setting.invalid');
  }
}

/**
 * Whether `target` is reached directly under a `NO_PROXY` list: `*` matches everything; an entry
 * matches its host and every subdomain (`example.com` and `.example.com` both match
 * `hub.example.com`; `*.example.com` too); `host:port` matches only that port; IP addresses match
 * exactly. Case does not matter.
 */
export function bypassesProxy(target: URL, noProxy: readonly string[]): boolean {
  const host = target.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 0;
  return noProxy.some((raw) => {
    const entry = raw.trim().toLowerCase();
    if (entry === '') return false;
    if (entry === '*') return true;
    // A bare IPv6 address (more than one colon, no brackets) has no port.
    const match = (
      entry.split(':').length > 2 && !entry.startsWith('[') ? [entry, entry] : /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry)
    ) as RegExpExecArray | null;
    if (!match) return false;
    const entryHost = match[1]!.replace(/^\[|\]$/g, '').replace(/^\*?\.?/, '');
    if (match[2] !== undefined && Number(match[2]) !== port) return false;
    return host === entryHost || host.endsWith(`.${entryHost}`);
  });
}

/** A proxy URL fit for logs: its credentials replaced. */
export function shownProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.username || proxy.password ? '[redacted]@' : ''}${proxy.host}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter((entry) => entry !== '');
}
