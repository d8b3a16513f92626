import { fromPromise } from 'xstate';
import { z } from 'zod';
import type { HttpAdapter, HttpResponse } from '../adapters/http.ts';
import { kindOfNoAnswer } from '../api/api-error.ts';
import type { EpochDocument, PushAnswer, PushInput } from '../machines/settings-sync.ts';
import { SettingsDocument, SettingsSnapshot } from '../protocol/settings-document.ts';

export interface SettingsHttpDeps {
  http: HttpAdapter;
  /** The hub's HTTP origin, e.g. `http://127.0.0.1:7070`. */
  origin: string;
  /** The credential headers now (bearer token, device, tenant: see `connectorCredentials`); undefined while there is none. */
  headers: () => Record<string, string> | undefined;
  timeoutMs?: number;
}

/** Why a settings request failed. The machine retries every kind with backoff. */
export type SettingsHttpErrorKind = 'no_token' | 'unauthorized' | 'server' | 'network' | 'timeout' | 'invalid_response';

export class SettingsHttpError extends Error {
  override readonly name = 'SettingsHttpError';
  constructor(
    readonly kind: SettingsHttpErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const Document = SettingsDocument.extend({ epoch: z.string().min(1).max(128) });
const Conflict = z.object({ current: Document });

/**
 * The settings-sync machine's HTTP actors: `fetchSettings` (`GET /v1/settings`) and `pushEdit`
 * (`PATCH /v1/settings/user` with the epoch and version the edit was made on, and the edit's id
 * as `idempotency-key`). Requests are authenticated as `connect` is: the bearer token, the
 * device id and the tenant (`headers`). Answers are validated; anything unexpected is a
 * {@link SettingsHttpError}.
 *
 * @example
 * const sync = settingsSyncMachine.provide({ actors: createSettingsHttpActors({ http: fetchHttpAdapter, origin, headers: credentials.headers }) });
 */
export function createSettingsHttpActors(deps: SettingsHttpDeps) {
  const request = async (
    method: 'GET' | 'PATCH',
    path: string,
    signal: AbortSignal,
    extra: { json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<HttpResponse> => {
    const credential = deps.headers();
    if (credential === undefined) throw new SettingsHttpError('no_token', 'no token to authenticate the settings request yet');
    try {
      return await deps.http.request({
        method,
        url: `${deps.origin}${path}`,
        headers: { ...credential, ...extra.headers },
        ...(extra.json !== undefined && { json: extra.json }),
        timeoutMs: deps.timeoutMs ?? 15_000,
        signal,
      });
    } catch (error) {
      const kind = kindOfNoAnswer(error);
      throw new SettingsHttpError(kind, `${method} ${path}: ${(error as Error).message}`);
    }
  };
  return {
    fetchSettings: fromPromise<SettingsSnapshot>(async ({ signal }) =>
      parse(await request('GET', '/v1/settings', signal), SettingsSnapshot),
    ),
    pushEdit: fromPromise<PushAnswer, PushInput>(async ({ input, signal }) => {
      const response = await request('PATCH', '/v1/settings/user', signal, {
        json: { version: input.version, ...(input.epoch !== undefined && { epoch: input.epoch }), patch: input.patch },
        headers: { 'idempotency-key': input.editId },
      });
      if (response.status === 409)
        return { status: 'conflict', current: parse({ ...response, status: 200 }, Conflict).current as EpochDocument };
      return { status: 'accepted', document: parse(response, Document) as EpochDocument };
    }),
  };
}

/** A 200 answer validated against its schema, or the failure it is. */
function parse<T>(response: HttpResponse, schema: z.ZodType<T>): T {
  const { status } = response;
  if (status === 401 || status === 403)
    throw new SettingsHttpError('unauthorized', `the hub refused the settings request (${status})`, status);
  if (status !== 200)
    throw new SettingsHttpError(status >= 500 || status === 429 ? 'server' : 'invalid_response', `the hub answered ${status}`, status);
  const parsed = schema.safeParse(response.body);
  if (!parsed.success)
    throw new SettingsHttpError('invalid_response', `unexpected settings answer: ${parsed.error.issues[0]?.message ?? 'invalid'}`, status);
  return parsed.data;
}
