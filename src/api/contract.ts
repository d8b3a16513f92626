import { z } from 'zod';

/*
 * The hub's REST surface for connectors and their hosts (docs/api.md): request bodies and
 * answers as zod schemas, shared by the reference hub (which validates what it takes) and the
 * API client (which validates what it gets). Every route is tenant-scoped: the tenant is the
 * caller's, from its credential.
 *
 * Credentials: a device or user token as for `connect` (`authorization: Bearer <token>`,
 * `x-device-id`, `x-tenant-id`), or an API key (`authorization: Bearer ctk_<id>_<secret>`, no
 * other header: the key names its tenant).
 */

const Id = z.string().min(1).max(256);
const Time = z.number().int().nonnegative();

/** What a credential may do. A user token of an `owner` or `admin` may do everything; a `member` all but `api_keys:manage`; a device token all but `api_keys:manage`. An API key only what it was given. */
export const Permission = z.enum(['usage:read', 'shares:write', 'api_keys:manage', 'telemetry:write', 'settings:read']);
export type Permission = z.infer<typeof Permission>;

/** The error body of every refused request. */
export const ApiErrorBody = z.object({ error: z.string().max(64), message: z.string().max(4096).optional() });

// ─── who am I ───────────────────────────────────────────────────────────────────────────

/** `GET /v1/whoami`: the caller, its tenant, its permissions, and its user's organizations for a user token. */
export const WhoAmI = z.object({
  kind: z.enum(['device', 'user', 'api_key', 'static']),
  tenant_id: Id,
  device_id: Id.optional(),
  user_id: Id.optional(),
  api_key_id: Id.optional(),
  permissions: z.array(Permission),
  /** A user token: the user's organizations (tenants) and roles. */
  organizations: z.array(z.object({ id: Id, name: z.string().max(256), role: z.string().max(64) })).optional(),
});
export type WhoAmI = z.infer<typeof WhoAmI>;

// ─── API keys ───────────────────────────────────────────────────────────────────────────

/** `POST /v1/api-keys` body. */
export const CreateApiKey = z.object({
  name: z.string().min(1).max(128),
  permissions: z.array(Permission).min(1),
  /** Lifetime; unset: until revoked. */
  expires_in_s: z
    .number()
    .int()
    .positive()
    .max(10 * 365 * 86_400)
    .optional(),
});
export type CreateApiKey = z.infer<typeof CreateApiKey>;

/** An API key as listed: never its secret (the hub keeps only a hash of it). */
export const ApiKeyInfo = z.object({
  id: Id,
  name: z.string(),
  tenant_id: Id,
  permissions: z.array(Permission),
  created_at: Time,
  expires_at: Time.nullable(),
  revoked_at: Time.nullable(),
  last_used_at: Time.nullable(),
  /** Requests authenticated with it. */
  use_count: z.number().int().nonnegative(),
});
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

/** `POST /v1/api-keys` (201) and `POST /v1/api-keys/{id}/rotate` (200): the key with its secret, shown this once. */
export const ApiKeyWithSecret = ApiKeyInfo.extend({ secret: z.string().regex(/^ctk_[A-Za-z0-9_-]+$/) });
export type ApiKeyWithSecret = z.infer<typeof ApiKeyWithSecret>;

/** `GET /v1/api-keys`. `DELETE /v1/api-keys/{id}` revokes (204, at once). */
export const ApiKeyList = z.object({ keys: z.array(ApiKeyInfo) });

// ─── usage ──────────────────────────────────────────────────────────────────────────────

/** `GET /v1/usage` with a tenant credential: the caller's tenant's ledger totals and entries. */
export const UsageAnswer = z.object({
  tenant_id: Id,
  totals: z.object({
    reports: z.number().int().nonnegative(),
    duration_ms: z.number().nonnegative(),
    input_tokens: z.number().nonnegative(),
    output_tokens: z.number().nonnegative(),
    cost_estimate: z.number().nonnegative(),
  }),
  entries: z.array(z.record(z.string(), z.unknown())),
});
export type UsageAnswer = z.infer<typeof UsageAnswer>;

// ─── sharing ────────────────────────────────────────────────────────────────────────────

/**
 * `POST /v1/shares` body. The organization's settings decide what is allowed (org settings key
 * `sharing`: `{ enabled: boolean (default true), allow_public: boolean (default false),
 * max_expiry_s: number (default 30 days) }`).
 */
export const CreateShare = z.object({
  resource: z.object({ type: z.enum(['task', 'execution']), id: Id }),
  /** `organization`: members of the tenant; `public`: anyone with the link. */
  visibility: z.enum(['organization', 'public']),
  expires_in_s: z
    .number()
    .int()
    .positive()
    .max(365 * 86_400)
    .optional(),
});
export type CreateShare = z.infer<typeof CreateShare>;

/** A share (201 from `POST /v1/shares`; `GET /v1/shares/{id}` answers it while it lasts, 404 after). */
export const Share = z.object({
  id: Id,
  tenant_id: Id,
  resource: CreateShare.shape.resource,
  visibility: CreateShare.shape.visibility,
  url: z.string().url(),
  created_at: Time,
  expires_at: Time,
});
export type Share = z.infer<typeof Share>;

/**
 * `GET /v1/shares/{id}`: the share and where its resource is now: an execution's status
 * (`running`, `completed`, …; null once the hub no longer holds it), a task's `open` or `closed`.
 */
export const SharedView = Share.extend({ resource_status: z.string().max(64).nullable() });
export type SharedView = z.infer<typeof SharedView>;

// ─── telemetry ──────────────────────────────────────────────────────────────────────────

/** One telemetry event: a name like `connection.state_changed`, properties already redacted. */
export const TelemetryEvent = z.object({
  /** Unique per event: the hub drops duplicates of a retried batch. */
  id: Id,
  event: z
    .string()
    .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/)
    .max(128),
  timestamp: Time,
  properties: z.record(z.string(), z.union([z.string().max(1024), z.number(), z.boolean(), z.null()])).default({}),
});
export type TelemetryEvent = z.infer<typeof TelemetryEvent>;

/** `POST /v1/telemetry` body: at most 500 events. Answer 202 `{ accepted, duplicates }`. */
export const TelemetryBatch = z.object({ batch: z.array(TelemetryEvent).min(1).max(500), sent_at: Time });
export const TelemetryAccepted = z.object({ accepted: z.number().int().nonnegative(), duplicates: z.number().int().nonnegative() });

// ─── rate limits ────────────────────────────────────────────────────────────────────────

/**
 * The hub's published limit per credential, a token bucket: `burst` requests at once, refilled
 * at `per_second`. Every answer carries `ratelimit-limit`, `ratelimit-remaining` and
 * `ratelimit-reset` (seconds); a request over it gets 429 with `retry-after` (seconds).
 * `GET /v1/limits` answers it (and is itself limited).
 */
export const RateLimit = z.object({ burst: z.number().int().positive(), per_second: z.number().positive() });
export type RateLimit = z.infer<typeof RateLimit>;

/** The reference hub's default, and so the API client's default budget. */
export const DEFAULT_RATE_LIMIT: RateLimit = { burst: 20, per_second: 10 };
