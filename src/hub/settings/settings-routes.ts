import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { StorageError } from '../../adapters/storage.ts';
import { reply } from '../../http/reply.ts';
import { parseParams, pathOf, readBody } from '../../http/request.ts';
import type { Logger } from '../../log/logger.ts';
import { MAX_SETTINGS_BYTES, SettingsDocument, type SettingsPatch } from '../../protocol/settings-document.ts';
import type { OperatorAccess } from '../admin/operator-access.ts';
import { authenticateDeviceRequest, type DeviceRequestAuth } from '../auth/device-request.ts';
import { HubError } from '../core/errors.ts';
import { replyThrottled } from '../throttle/throttled-reply.ts';
import type { SettingsPatchResult } from './settings-documents.ts';
import { type SettingsSubject, subjectOf } from './settings-sessions.ts';
import type { HubSettings } from './settings.ts';

/** What the settings routes work with. */
export interface SettingsRoutesParts {
  /** Who may use the operators' routes. */
  access: Pick<OperatorAccess, 'admit'>;
  logger: Logger;
  /** Checks a device's credential as `connect` does. */
  auth: DeviceRequestAuth;
  /** The hub's settings API: a route does what the same call on `hub.settings` does. */
  settings: HubSettings;
}

/** A patch and the room its envelope (`{ "version": …, "patch": … }`) needs. */
const MAX_BODY_BYTES = MAX_SETTINGS_BYTES + 1024;
const Version = SettingsDocument.shape.version;
const PatchObject = z.record(z.string(), z.unknown());
const DevicePatchBody = z.object({ version: Version, epoch: z.string().min(1).max(128).optional(), patch: PatchObject });
/** The edit's id, sent as `idempotency-key`: a retried write whose first answer was lost is not applied twice. */
const EditId = z.string().min(1).max(256);
const OperatorPatchBody = z.object({ version: Version.optional(), patch: PatchObject });

const DEVICE = /^\/v1\/settings(?:\/(org|user))?$/;
const TENANT = /^\/v1\/tenants\/([^/]+)\/settings$/;
const SUBJECT = /^\/v1\/tenants\/([^/]+)\/(users|devices)\/([^/]+)\/settings$/;
const REPORTED = /^\/v1\/tenants\/([^/]+)\/devices\/([^/]+)\/settings\/reported$/;
const WRITES = new Set(['PATCH', 'PUT', 'POST', 'DELETE']);

/**
 * The settings routes. For devices, authenticated like `connect` (`authorization: Bearer
 * <token>`, `x-device-id`, `x-tenant-id`), on the caller's tenant and subject (its user with a
 * user token, else the device):
 *
 * - `GET /v1/settings` → `{ epoch, org: { version, settings }, user: { version, settings } }`.
 * - `GET /v1/settings/org`, `GET /v1/settings/user` → `{ epoch, version, settings }`.
 * - `PATCH /v1/settings/user` `{ version, epoch?, patch }` (header `idempotency-key: <edit id>`)
 *   → 200 the new document (or, for an edit id taken before, the document as it is), 409
 *   `{ error: 'version_conflict', message, current }` when `version` or `epoch` is not the current one.
 * - `PATCH /v1/settings/org` → 403 `{ error: 'forbidden' }`: organization settings are read-only to devices.
 *
 * For operators, behind {@link OperatorAccess}:
 *
 * - `GET|PATCH /v1/tenants/{tenant}/settings`: the organization document; `PATCH` takes
 *   `{ patch, version? }` and answers as above (409 only when `version` is given and stale).
 * - `GET|PATCH /v1/tenants/{tenant}/users/{user}/settings` and `…/devices/{device}/settings`:
 *   the user document of `user:{user}` or `device:{device}`.
 * - `GET /v1/tenants/{tenant}/devices/{device}/settings/reported` → what the device reported, and
 *   whether it drifts.
 *
 * A bad body is 400 `invalid_request`, one over 64 KiB (or a document that would be) 413
 * `too_large`. Returns false for a request that is not one of these paths.
 *
 * @example
 * const settingsRoutes = createSettingsRoutes({ access, logger, auth, settings: hub.settings });
 * http.createServer((req, res) => settingsRoutes(req, res) || notFound(res));
 */
export function createSettingsRoutes(parts: SettingsRoutesParts): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = pathOf(req.url);
    const device = DEVICE.exec(path);
    const operator = device ? undefined : operatorPath(path);
    if (!device && !operator) return false;
    const answer = operator
      ? operatorRoute(parts, req, res, path, operator)
      : deviceRoute(parts, req, res, device?.[1] as 'org' | 'user' | undefined);
    answer.catch((error: unknown) => {
      parts.logger.error({ err: error, path }, 'settings request failed');
      reply(res, 500, { error: 'internal' });
    });
    return true;
  };
}

async function deviceRoute(
  parts: SettingsRoutesParts,
  req: IncomingMessage,
  res: ServerResponse,
  document: 'org' | 'user' | undefined,
): Promise<void> {
  const caller = await authenticateDeviceRequest(req, parts.auth);
  if (!caller.ok) {
    if (caller.error === 'throttled') return replyThrottled(res, caller.retryAfterMs ?? 0);
    parts.logger.warn({ path: pathOf(req.url), reason: caller.reason }, 'settings request refused');
    if (caller.error === 'unavailable') return reply(res, 503, { error: 'unavailable' });
    return reply(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
  }
  const { settings } = parts;
  const { tenant_id: tenantId } = caller;
  const subject = subjectOf(caller);
  const method = req.method ?? '';
  if (document === 'org' && WRITES.has(method))
    return reply(res, 403, { error: 'forbidden', message: 'organization settings are read-only to devices' });
  const allow = document === 'user' ? 'GET, PATCH' : 'GET';
  if (!allow.split(', ').includes(method)) return reply(res, 405, { error: 'method_not_allowed' }, { allow });
  if (method === 'GET') {
    if (document === undefined) return reply(res, 200, settings.snapshot(tenantId, subject));
    const answer = document === 'org' ? settings.org(tenantId) : settings.user(tenantId, subject);
    return reply(res, 200, { ...answer, epoch: settings.deviceEpoch(tenantId, subject) });
  }
  const editId = EditId.safeParse(req.headers['idempotency-key']);
  const body = await readPatchBody(req, res, DevicePatchBody);
  if (!body) return;
  // The device knows the epoch of its scope; the store checks its own.
  const deviceEpoch = settings.deviceEpoch(tenantId, subject);
  const epoch = body.epoch === undefined ? undefined : body.epoch === deviceEpoch ? settings.epoch : body.epoch;
  const conditions = { version: body.version, ...(epoch !== undefined && { epoch }), ...(editId.success && { editId: editId.data }) };
  await answerPatch(parts, res, { tenant_id: tenantId, subject, by: 'device', epoch: deviceEpoch }, () =>
    settings.patchUser(tenantId, subject, body.patch, conditions),
  );
}

async function operatorRoute(
  parts: SettingsRoutesParts,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  route: OperatorPath,
): Promise<void> {
  if (!(await parts.access.admit(req, res))) return;
  const segments = decodeAll(route.segments);
  if (!segments) return reply(res, 400, { error: 'invalid_request', message: 'bad percent-encoding in the path' });
  const { settings } = parts;
  const method = req.method ?? '';
  if (route.kind === 'reported') {
    const [tenantId = '', deviceId = ''] = segments;
    if (method !== 'GET') return reply(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
    return reply(res, 200, settings.reported(tenantId, deviceId));
  }
  // `…/settings` of a tenant, or of a subject: `…/users/{id}/settings`, `…/devices/{id}/settings`.
  const [tenantId = '', collection, id = ''] = segments;
  const subject: SettingsSubject | undefined =
    route.kind === 'org' ? undefined : collection === 'users' ? { userId: id } : { deviceId: id };
  if (method === 'GET') return reply(res, 200, subject ? settings.user(tenantId, subject) : settings.org(tenantId));
  if (method !== 'PATCH') return reply(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, PATCH' });
  const body = await readPatchBody(req, res, OperatorPatchBody);
  if (!body) return;
  const options = body.version === undefined ? {} : { version: body.version };
  await answerPatch(parts, res, { tenant_id: tenantId, ...(subject && { subject }), by: 'operator' }, () =>
    subject ? settings.patchUser(tenantId, subject, body.patch, options) : settings.patchOrg(tenantId, body.patch, options),
  );
}

/** Reads and checks a patch body; answers 413 or 400 itself and resolves undefined then. */
async function readPatchBody<T extends { patch: Record<string, unknown> }>(
  req: IncomingMessage,
  res: ServerResponse,
  schema: z.ZodType<T>,
): Promise<T | undefined> {
  const tooLarge = () => reply(res, 413, { error: 'too_large', message: `the body is over ${MAX_BODY_BYTES} bytes` });
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) return void tooLarge();
  const text = await readBody(req, MAX_BODY_BYTES);
  // Undefined is also a client that went away; the answer then goes nowhere.
  if (text === undefined) return void tooLarge();
  const raw = parseParams('application/json', text);
  const parsed = schema.safeParse(raw);
  if (!parsed.success || !raw)
    return void reply(res, 400, {
      error: 'invalid_request',
      message: 'the body must be { "version": <integer>, "patch": { "key": value, … } }',
    });
  // zod's record drops a `__proto__` key; the store takes the parsed body's own, as a plain key.
  return { ...parsed.data, patch: raw.patch as SettingsPatch };
}

/** Runs a patch and answers it: the new document, the conflict, or what refused it. */
async function answerPatch(
  parts: SettingsRoutesParts,
  res: ServerResponse,
  target: {
    tenant_id: string;
    subject?: SettingsSubject;
    by: 'device' | 'operator';
    /** Devices are answered in their scope's epoch. */ epoch?: string;
  },
  run: () => Promise<SettingsPatchResult>,
): Promise<void> {
  let result: SettingsPatchResult;
  try {
    result = await run();
  } catch (error) {
    if (error instanceof HubError && error.code === 'too_large') return reply(res, 413, { error: 'too_large', message: error.message });
    if (error instanceof HubError && error.code === 'invalid_settings')
      return reply(res, 400, { error: 'invalid_request', message: error.message });
    if (error instanceof HubError && error.code === 'invalid_state')
      return reply(res, 503, { error: 'unavailable', message: error.message });
    if (!(error instanceof StorageError)) throw error;
    parts.logger.error({ err: error, tenant_id: target.tenant_id }, 'settings could not be stored');
    return reply(res, 500, { error: 'storage_failed', message: 'the settings could not be stored' });
  }
  const { epoch, ...logged } = target;
  const scoped = <D extends { epoch: string }>(doc: D): D => (epoch === undefined ? doc : { ...doc, epoch });
  if (!result.ok) {
    const { current } = result;
    return reply(res, 409, {
      error: 'version_conflict',
      message: `the document is at version ${current.version}`,
      current: scoped(current),
    });
  }
  const { document, changes } = result;
  const keys = Object.keys(changes);
  if (keys.length > 0) parts.logger.info({ ...logged, version: document.version, keys }, 'settings changed');
  reply(res, 200, scoped(document));
}

/** An operator route: which one, and its path segments as they came. */
interface OperatorPath {
  kind: 'org' | 'subject' | 'reported';
  segments: string[];
}

function operatorPath(path: string): OperatorPath | undefined {
  for (const [kind, pattern] of [
    ['org', TENANT],
    ['subject', SUBJECT],
    ['reported', REPORTED],
  ] as const) {
    const match = pattern.exec(path);
    if (match) return { kind, segments: match.slice(1).map((segment) => segment ?? '') };
  }
  return undefined;
}

/** URI-decodes path segments; undefined when one is not valid percent-encoding. */
function decodeAll(segments: string[]): string[] | undefined {
  try {
    return segments.map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}
