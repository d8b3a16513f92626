import { z } from 'zod';
import type { HttpAdapter, HttpResponse } from '../adapters/http.ts';
import { retryAfterMs } from '../adapters/retry-after.ts';
import type { RuntimeClock } from '../util/clock.ts';
import { retryDelayAfter } from '../util/backoff.ts';
import { nextRandom } from '../util/random.ts';
import { ApiError, kindOfNoAnswer, kindOfStatus, RETRYABLE } from './api-error.ts';
import {
  ApiErrorBody,
  ApiKeyList,
  ApiKeyWithSecret,
  type CreateApiKey,
  type CreateShare,
  DEFAULT_RATE_LIMIT,
  RateLimit,
  Share,
  SharedView,
  TelemetryAccepted,
  type TelemetryEvent,
  UsageAnswer,
  WhoAmI,
} from './contract.ts';
import { TokenBucket } from './rate-limiter.ts';

/**
 * How requests authenticate. The connector's own: its device or user token (refreshed through
 * the auth machine). {@link apiKeyCredentials}: an API key, never refreshed.
 */
export interface ApiCredentials {
  /** The headers that carry the current credential; undefined when there is none yet. */
  headers(): Record<string, string> | undefined;
  /**
   * The hub refused `stale` (401): get a fresh credential. Resolves true when one is there to
   * retry with. Concurrent calls for the same stale credential share one refresh.
   */
  refresh(stale: Record<string, string>): Promise<boolean>;
  /** A refreshed credential was accepted. */
  accepted?(): void;
  /** No credential now (a refresh under way, the first token not there yet): resolves true once there is one. */
  whenReady?(): Promise<boolean>;
}

/** The longest `Retry-After` the client waits; a hub asking for more gets a `rate_limited` failure sooner. */
const MAX_RETRY_AFTER_MS = 300_000;

/** Retry policy of idempotent requests: attempts in all, full jitter from `baseMs` doubling to `capMs`. */
export const ApiRetryPolicy = z.object({
  attempts: z.number().int().min(1).max(10).default(3),
  baseMs: z.number().int().positive().default(250),
  capMs: z.number().int().positive().default(5_000),
});
export type ApiRetryPolicy = z.output<typeof ApiRetryPolicy>;

/** What an {@link ApiClient} needs: where the hub is, how to reach it and authenticate, and its limits. */
export interface ApiClientOptions {
  http: HttpAdapter;
  /** The hub's HTTP origin, e.g. `http://127.0.0.1:7070`; undefined in standalone mode (every request fails `network`). */
  origin: string | undefined;
  credentials: ApiCredentials;
  clock: RuntimeClock;
  /** The hub's published limit; the client keeps to 90 % of it. Default the reference hub's (20 at once, 10/s). */
  rateLimit?: RateLimit;
  retry?: Partial<ApiRetryPolicy>;
  /** Per request; a request without an answer by then fails `timeout`. Default 10 s. */
  timeoutMs?: number;
  /** Jitter seed. */
  seed?: number;
}

interface Call<T> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  json?: unknown;
  /** The answer's schema; undefined for an answer without a body (204). */
  schema?: z.ZodType<T>;
}

/**
 * A typed client of the hub's REST surface (docs/api.md): per-request timeouts, typed
 * {@link ApiError}s, answers validated with zod; a token bucket so it never sends faster than the
 * hub's published limit; a 401 refreshes the credential once and retries once; idempotent
 * requests (GET, PUT, DELETE) are retried with full-jitter backoff on 429, 5xx, network errors
 * and timeouts, honouring `Retry-After`; POST and PATCH are never retried.
 *
 * @example
 * const api = connector.api; // or new ApiClient({ http: fetchHttpAdapter, origin, credentials: apiKeyCredentials(key), clock: realClock })
 * const me = await api.whoami();
 * const { secret } = await api.createApiKey({ name: 'ci', permissions: ['usage:read'] }); // shown once
 * const share = await api.createShare({ resource: { type: 'execution', id: 'req_1' }, visibility: 'organization' });
 */
export class ApiClient {
  readonly #options: ApiClientOptions;
  readonly #bucket: TokenBucket;
  readonly #retry: ApiRetryPolicy;
  #rng: number;
  /** Requests sent to the hub (retries included): what the rate limiter meters. */
  sent = 0;

  constructor(options: ApiClientOptions) {
    this.#options = options;
    this.#bucket = new TokenBucket(withMargin(options.rateLimit ?? DEFAULT_RATE_LIMIT), () => options.clock.now());
    this.#retry = ApiRetryPolicy.parse(options.retry ?? {});
    this.#rng = options.seed ?? 1;
  }

  /** Who the credential speaks for: kind, tenant, permissions (and organizations for a user). */
  whoami(): Promise<WhoAmI> {
    return this.request({ method: 'GET', path: '/v1/whoami', schema: WhoAmI });
  }

  /** The hub's published rate limit per credential. */
  limits(): Promise<RateLimit> {
    return this.request({ method: 'GET', path: '/v1/limits', schema: RateLimit });
  }

  /** Creates an API key in the caller's tenant; its `secret` is in this answer only. */
  createApiKey(key: CreateApiKey): Promise<ApiKeyWithSecret> {
    return this.request({ method: 'POST', path: '/v1/api-keys', json: key, schema: ApiKeyWithSecret });
  }

  async listApiKeys(): Promise<z.infer<typeof ApiKeyList>['keys']> {
    return (await this.request({ method: 'GET', path: '/v1/api-keys', schema: ApiKeyList })).keys;
  }

  /** Revokes a key: it stops working at once. */
  async revokeApiKey(id: string): Promise<void> {
    await this.request({ method: 'DELETE', path: `/v1/api-keys/${encodeURIComponent(id)}` });
  }

  /** A new secret for a key; the old one stops working at once. */
  rotateApiKey(id: string): Promise<ApiKeyWithSecret> {
    return this.request({ method: 'POST', path: `/v1/api-keys/${encodeURIComponent(id)}/rotate`, schema: ApiKeyWithSecret });
  }

  /** The caller's tenant's usage ledger. */
  usage(): Promise<UsageAnswer> {
    return this.request({ method: 'GET', path: '/v1/usage', schema: UsageAnswer });
  }

  /** A share link for a task or an execution, as the organization's sharing settings allow. */
  createShare(share: CreateShare): Promise<Share> {
    return this.request({ method: 'POST', path: '/v1/shares', json: share, schema: Share });
  }

  getShare(id: string): Promise<SharedView> {
    return this.request({ method: 'GET', path: `/v1/shares/${encodeURIComponent(id)}`, schema: SharedView });
  }

  /** Sends a telemetry batch (the telemetry client's transport). */
  sendTelemetry(batch: TelemetryEvent[]): Promise<z.infer<typeof TelemetryAccepted>> {
    return this.request({
      method: 'POST',
      path: '/v1/telemetry',
      json: { batch, sent_at: this.#options.clock.now() },
      schema: TelemetryAccepted,
    });
  }

  /** One call of the contract, with the limiter, the refresh and the retries. */
  async request<T>(call: Call<T>): Promise<T> {
    // Nothing to retry in standalone mode: there is no hub.
    if (this.#options.origin === undefined) {
      throw new ApiError('network', `${call.method} ${call.path}: no hub configured (standalone mode)`, {
        method: call.method,
        path: call.path,
        attempts: 0,
      });
    }
    const idempotent = call.method === 'GET' || call.method === 'PUT' || call.method === 'DELETE';
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      let failure: ApiError;
      // The credential this attempt went with: a 401 refreshes that one, not whatever is current.
      const sent: { headers?: Record<string, string> } = {};
      try {
        const value = await this.#once(call, attempt, sent);
        // The refreshed credential worked: the auth machine may count on it again.
        if (refreshed) this.#options.credentials.accepted?.();
        return value;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        failure = error;
      }
      // The request was refused unread: one refresh and one retry, whatever the method.
      if (failure.kind === 'authentication' && !refreshed && failure.detail.status === 401) {
        refreshed = true;
        if (await this.#options.credentials.refresh(sent.headers ?? {})) {
          attempt--;
          continue;
        }
      }
      if (failure.kind === 'rate_limited') this.#bucket.pause(failure.retryAfterMs ?? 1_000);
      if (!idempotent || !RETRYABLE.has(failure.kind) || attempt >= this.#retry.attempts) throw failure;
      const [random, rng] = nextRandom(this.#rng);
      this.#rng = rng;
      await this.#sleep(retryDelayAfter(this.#retry, attempt, random, failure.retryAfterMs));
    }
  }

  async #once<T>(call: Call<T>, attempt: number, sent: { headers?: Record<string, string> }): Promise<T> {
    const { method, path } = call;
    const wait = this.#bucket.reserve();
    if (wait > 0) await this.#sleep(wait);
    const { credentials } = this.#options;
    // A refresh under way took the old token away: wait for the new one rather than fail.
    let headers = credentials.headers();
    if (!headers && credentials.whenReady && (await credentials.whenReady())) headers = credentials.headers();
    const fail = (kind: ApiError['kind'], message: string, extra: Partial<ApiError['detail']> = {}) =>
      new ApiError(kind, `${method} ${path}: ${message}`, { method, path, attempts: attempt, ...extra });
    if (!headers) throw fail('authentication', 'no credential yet');
    sent.headers = headers;
    let response: HttpResponse;
    this.sent++;
    try {
      response = await this.#options.http.request({
        method,
        url: `${this.#options.origin}${path}`,
        headers,
        ...(call.json !== undefined && { json: call.json }),
        timeoutMs: this.#options.timeoutMs ?? 10_000,
      });
    } catch (error) {
      const kind = kindOfNoAnswer(error);
      throw fail(kind, (error as Error).message);
    }
    const { status, body } = response;
    if (status >= 200 && status < 300) {
      if (!call.schema) return undefined as T;
      const parsed = call.schema.safeParse(body);
      if (!parsed.success) throw fail('invalid_response', `unexpected answer: ${parsed.error.issues[0]?.message ?? 'invalid'}`, { status });
      return parsed.data;
    }
    const code = ApiErrorBody.safeParse(body);
    const asked = status === 429 || status === 503 ? retryAfterMs(response.headers['retry-after'], this.#options.clock.now()) : undefined;
    const retryAfter = asked === undefined ? undefined : Math.min(asked, MAX_RETRY_AFTER_MS);
    throw fail(kindOfStatus(status), `${status}${code.success ? ` ${code.data.error}` : ''}`, {
      status,
      ...(code.success && { code: code.data.error }),
      ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#options.clock.setTimeout(() => resolve(), ms));
  }
}

/**
 * The budget the client keeps to: 90 % of the hub's published limit. The hub counts a request
 * when it arrives, the client when it sends: with the same budget, latency that bunches requests
 * up on the way would push some over.
 */
function withMargin(limit: RateLimit): RateLimit {
  return { burst: Math.max(1, Math.floor(limit.burst * 0.9)), per_second: limit.per_second * 0.9 };
}

/**
 * Credentials of an API key (`ctk_<id>_<secret>`): its tenant is the key's. Never refreshed.
 *
 * @example
 * const api = new ApiClient({ http: fetchHttpAdapter, origin: 'https://hub.example', credentials: apiKeyCredentials(process.env.CLOUDTETHER_API_KEY!), clock: realClock });
 */
export function apiKeyCredentials(key: string): ApiCredentials {
  return { headers: () => ({ authorization: `Bearer ${key}` }), refresh: async () => false };
}
