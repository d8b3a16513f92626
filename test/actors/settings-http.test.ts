import { describe, expect, it } from 'vitest';
import { type AnyActorLogic, createActor, toPromise } from 'xstate';
import { fetchHttpAdapter } from '../../src/adapters/fetch-http.ts';
import { HttpError, type HttpAdapter, type HttpResponse } from '../../src/adapters/http.ts';
import { createSettingsHttpActors, SettingsHttpError } from '../../src/actors/settings-http.ts';
import { LOOPBACK_TOKEN, startHub } from '../support/loopback.ts';

const run = (logic: AnyActorLogic, input?: unknown) => toPromise(createActor(logic, { input }).start());
const actorsFor = (origin: string, token: string | undefined, http: HttpAdapter = fetchHttpAdapter) =>
  createSettingsHttpActors({
    http,
    origin,
    headers: () => (token === undefined ? undefined : { authorization: `Bearer ${token}`, 'x-device-id': 'dev-1', 'x-tenant-id': 'acme' }),
  });
/** An adapter that answers every request with `response` (or fails with it). */
const answering = (response: Partial<HttpResponse> | Error): HttpAdapter => ({
  request: async () => {
    if (response instanceof Error) throw response;
    return { status: 200, headers: {}, body: undefined, ...response };
  },
});

describe('settings HTTP actors', () => {
  it('fetch and write against the real hub: accepted, 409 with the current document, a retried edit answered not applied', async () => {
    const { hub, port } = await startHub();
    const { fetchSettings, pushEdit } = actorsFor(`http://127.0.0.1:${port}`, LOOPBACK_TOKEN);
    const snapshot = await run(fetchSettings);
    expect(snapshot).toEqual({
      epoch: expect.stringMatching(/^set_/),
      org: { version: 0, settings: {} },
      user: { version: 0, settings: {} },
    });
    const write = { editId: 'edit-1', epoch: snapshot.epoch, version: 0, patch: { theme: 'dark' } };
    expect(await run(pushEdit, write)).toEqual({
      status: 'accepted',
      document: { epoch: snapshot.epoch, version: 1, settings: { theme: 'dark' } },
    });
    await hub.settings.patchUser('acme', { deviceId: 'dev-1' }, { theme: null });
    // The same edit again (its first answer lost): the hub's later change stands.
    expect(await run(pushEdit, write)).toEqual({ status: 'accepted', document: { epoch: snapshot.epoch, version: 2, settings: {} } });
    expect(await run(pushEdit, { ...write, editId: 'edit-2' })).toEqual({
      status: 'conflict',
      current: { epoch: snapshot.epoch, version: 2, settings: {} },
    });
  });

  it('classifies what goes wrong, with the real hub where it can say so', async () => {
    const { port } = await startHub();
    const origin = `http://127.0.0.1:${port}`;
    const failure = (logic: AnyActorLogic, input?: unknown) =>
      run(logic, input).then(
        () => undefined,
        (error: unknown) => error as SettingsHttpError,
      );
    expect(await failure(actorsFor(origin, undefined).fetchSettings)).toMatchObject({ name: 'SettingsHttpError', kind: 'no_token' });
    expect(await failure(actorsFor(origin, 'not-the-token').fetchSettings)).toMatchObject({ kind: 'unauthorized', status: 401 });
    expect(await failure(actorsFor('http://127.0.0.1:9', LOOPBACK_TOKEN).fetchSettings)).toMatchObject({ kind: 'network' });
    const stubbed = (response: Partial<HttpResponse> | Error) =>
      failure(actorsFor(origin, LOOPBACK_TOKEN, answering(response)).fetchSettings);
    expect(await stubbed({ status: 503 })).toMatchObject({ kind: 'server', status: 503 });
    expect(await stubbed({ status: 404 })).toMatchObject({ kind: 'invalid_response', status: 404 });
    expect(await stubbed({ body: { epoch: 'e', org: { version: -1, settings: {} } } })).toMatchObject({ kind: 'invalid_response' });
    expect(await stubbed(new HttpError('timeout', 'timed out after 15000 ms'))).toMatchObject({ kind: 'timeout' });
    const write = { editId: 'e', epoch: 'e', version: 0, patch: {} };
    expect(
      await failure(actorsFor(origin, LOOPBACK_TOKEN, answering({ status: 409, body: { error: 'version_conflict' } })).pushEdit, write),
    ).toBeInstanceOf(SettingsHttpError);
  });
});
