/**
 * The names of the engine's Redis keys, all under one prefix (default `cloudtether:`), so one
 * Redis can hold several hubs' state. A device is named `tenant NUL device`, ids the protocol
 * keeps free of control characters.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** The delivery epoch: made once, kept while the queues are. */
  get epoch(): string {
    return `${this.prefix}delivery:epoch`;
  }

  /** Every device that has a queue: `tenant NUL device`. */
  get queues(): string {
    return `${this.prefix}delivery:queues`;
  }

  /**
   * One device's queue: `m` its entries by id (each with its `seq` once sent: those wait that have
   * none), `s` its last seq, missed count and owner fence (a counter), `i` the ids other hub nodes
   * queued that its holder has not taken yet.
   */
  queue(device: string): { m: string; s: string; i: string } {
    const base = `${this.prefix}delivery:queue:${device}`;
    return { m: `${base}:m`, s: `${base}:s`, i: `${base}:i` };
  }

  /** The lease of the node that expires the waiting work of devices no node holds (`node|until`). */
  get expiryLease(): string {
    return `${this.prefix}delivery:expiry-lease`;
  }

  /** A device's message (`tenant NUL device`, message id) some node applied: for those not to apply twice across nodes. */
  seen(device: string, id: string): string {
    return `${this.prefix}delivery:seen:${device}:${id}`;
  }

  /** Which node holds a device's session (`node|session`, with a TTL). */
  presence(device: string): { p: string } {
    return { p: `${this.prefix}presence:${device}` };
  }

  /** Broker channels: one node's, and every node's. */
  channel(node: string | undefined): string {
    return node === undefined ? `${this.prefix}broker:all` : `${this.prefix}broker:node:${node}`;
  }

  /** Who dispatched a request: its origin node, device and job type (kept for the retention of executions). */
  execution(requestId: string): string {
    return `${this.prefix}exec:${requestId}`;
  }

  /** Signing keys: their JWKs by kid, when each is dropped, and the kid that signs now. */
  get signingKeys(): { jwks: string; drop: string; current: string } {
    return { jwks: `${this.prefix}auth:keys`, drop: `${this.prefix}auth:keys:drop`, current: `${this.prefix}auth:keys:current` };
  }

  /** Revoked devices (device id → tenants) and revoked token ids (scored by when to forget them). */
  get revocations(): { devices: string; tokens: string } {
    return { devices: `${this.prefix}auth:revoked:devices`, tokens: `${this.prefix}auth:revoked:tokens` };
  }

  /**
   * User logins: a pending login by device-code hash, its user code (`expiresAt SP device-code
   * hash`), a refresh-token family (its hash, its tokens' hashes, its access tokens by expiry),
   * and a refresh token by hash (its family and expiry).
   */
  get logins(): {
    device(hash: string): string;
    user(hash: string): string;
    devicePrefix: string;
    family(id: string): { f: string; t: string; a: string };
    refresh(hash: string): string;
    refreshPrefix: string;
  } {
    const p = this.prefix;
    return {
      device: (hash) => `${p}auth:login:d:${hash}`,
      user: (hash) => `${p}auth:login:u:${hash}`,
      devicePrefix: `${p}auth:login:d:`,
      family: (id) => ({ f: `${p}auth:family:${id}`, t: `${p}auth:family:${id}:t`, a: `${p}auth:family:${id}:a` }),
      refresh: (hash) => `${p}auth:refresh:${hash}`,
      refreshPrefix: `${p}auth:refresh:`,
    };
  }

  /** A tenant's telemetry: its events (a list of JSON), its recent event ids, and its meta hash. */
  telemetry(tenantId: string): { events: string; ids: string; meta: string } {
    const base = `${this.prefix}api:telemetry:${tenantId}`;
    return { events: `${base}:events`, ids: `${base}:ids`, meta: `${base}:meta` };
  }

  /** The REST API's keys by id. */
  get apiKeys(): string {
    return `${this.prefix}api:keys`;
  }

  /** The tenants that booked usage. */
  get usageTenants(): string {
    return `${this.prefix}usage:tenants`;
  }

  /** A tenant's usage: entries by report id (each with its booking time). */
  usage(tenantId: string): { entries: string } {
    return { entries: `${this.prefix}usage:${tenantId}:entries` };
  }

  /** The settings documents' epoch, and the tenants that have documents. */
  get settings(): { epoch: string; tenants: string } {
    return { epoch: `${this.prefix}settings:epoch`, tenants: `${this.prefix}settings:tenants` };
  }

  /** A tenant's settings documents by key, and their versions by key. */
  settingsOf(tenantId: string): { documents: string; versions: string } {
    return { documents: `${this.prefix}settings:${tenantId}:documents`, versions: `${this.prefix}settings:${tenantId}:versions` };
  }

  // State asked while the hub serves.
  /** The failure throttle's records (`failures`) and marks (`familiar`): one hash per key is this plus the key. */
  throttle(name: 'failures' | 'familiar'): string {
    return `${this.prefix}throttle:${name}:`;
  }

  /** Share links: each share by id, and each tenant's live share ids by expiry. */
  get shares(): { share(id: string): string; tenant(tenantId: string): string } {
    return { share: (id) => `${this.prefix}api:share:${id}`, tenant: (tenantId) => `${this.prefix}api:shares:${tenantId}` };
  }

  /** Reliable channel messages' dedupe windows: one sorted set per device (`tenant NUL device`) is this plus the device. */
  get channelDedupe(): string {
    return `${this.prefix}channels:dedupe:`;
  }

  /** Channel histories: each channel's meta hash (`epoch`, `offset`) and stream (`tenant NUL channel`), and the set of channels kept. */
  get channelHistory(): { meta(key: string): string; stream(key: string): string; all: string } {
    return {
      meta: (key) => `${this.prefix}channels:meta:${key}`,
      stream: (key) => `${this.prefix}channels:stream:${key}`,
      all: `${this.prefix}channels:all`,
    };
  }

  /** The REST API's token buckets: one hash per bucket key is this plus the key. */
  get rateBuckets(): string {
    return `${this.prefix}api:rate:`;
  }
}
