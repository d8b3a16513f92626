import { describe, expect, it } from 'vitest';
import { HubError } from '../../../src/hub/index.ts';
import { startHub, TestClient, TOKEN } from '../helpers.ts';
import { LIFETIME_MS } from '../token-helpers.ts';
import {
  adaTokenAnswer,
  approve,
  authorize,
  claimsOf,
  DEVICE_CODE_GRANT,
  DEVICE_CODE_LIFETIME_MS,
  GLOBEX,
  poll,
  post,
  startUserHub,
} from '../user-helpers.ts';

const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

describe('device authorization (RFC 8628)', () => {
  it('answers device_code, user_code, verification URIs, expires_in and interval', async () => {
    const { port } = await startUserHub();
    const answer = await authorize(port, 'device-1');

    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const verify = `http://127.0.0.1:${port}/v1/oauth/verify`;
    expect(answer.body).toEqual({
      device_code: expect.stringMatching(/^[\w-]{43,}$/),
      user_code: expect.stringMatching(USER_CODE),
      verification_uri: verify,
      verification_uri_complete: `${verify}?user_code=${answer.body.user_code as string}`,
      expires_in: DEVICE_CODE_LIFETIME_MS / 1000,
      interval: 1,
    });
    // Every login gets its own codes.
    const other = await authorize(port, 'device-1');
    expect(other.body.device_code).not.toBe(answer.body.device_code);
    expect(other.body.user_code).not.toBe(answer.body.user_code);

    const page = await fetch(verify);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/plain; charset=utf-8']);
  });

  it('answers 400 invalid_request without a client_id or with a body that is neither JSON nor a form', async () => {
    const { port } = await startUserHub();
    const invalid = { status: 400, body: { error: 'invalid_request', error_description: expect.any(String) } };

    expect(await post(port, '/v1/oauth/device_authorization', {})).toMatchObject(invalid);
    expect(await post(port, '/v1/oauth/device_authorization', { client_id: 42 })).toMatchObject(invalid);
    expect(await post(port, '/v1/oauth/device_authorization', { client_id: '' }, { form: true })).toMatchObject(invalid);
    expect(await post(port, '/v1/oauth/device_authorization', '{"client_id":')).toMatchObject(invalid);
    expect(await post(port, '/v1/oauth/device_authorization', 'client_id=a&client_id=b', { form: true })).toMatchObject(invalid);
    const get = await fetch(`http://127.0.0.1:${port}/v1/oauth/device_authorization`);
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST']);
  });

  it('full flow: authorization_pending, approval behind the admin token, then tokens once only', async () => {
    const { url, port, clock } = await startUserHub();
    const { device_code, user_code } = (await authorize(port, 'device-1')).body as Record<string, string>;

    expect(await poll(port, device_code!, 'device-1')).toMatchObject({ status: 400, body: { error: 'authorization_pending' } });
    expect(await approve(port, { user_code, user_id: 'ada' }, null)).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(await approve(port, { user_code, user_id: 'ada' }, 'wrong')).toMatchObject({ status: 401 });
    expect(await approve(port, { user_code, user_id: 'ada' })).toMatchObject({ status: 200, body: { approved: true } });

    clock.advance(1_000);
    const granted = await poll(port, device_code!, 'device-1');
    expect(granted.status).toBe(200);
    expect(granted.headers.get('cache-control')).toBe('no-store');
    expect(granted.body).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      ...adaTokenAnswer(clock.now()),
    });
    const claims = claimsOf(granted.body.access_token as string);
    expect(claims).toEqual({
      iss: 'cloudtether-hub',
      aud: 'cloudtether',
      sub: 'ada',
      kind: 'user',
      tenant: 'acme',
      device: 'device-1',
      iat: clock.now() / 1000,
      nbf: clock.now() / 1000,
      exp: (clock.now() + LIFETIME_MS) / 1000,
      jti: expect.any(String),
    });
    const { ack } = await TestClient.connect(url, { device_id: 'device-1', tenant_id: 'acme', token: granted.body.access_token as string });
    expect(ack.type).toBe('connect_ack');

    // The device code is spent; so is the user code.
    clock.advance(1_000);
    expect(await poll(port, device_code!, 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await approve(port, { user_code, user_id: 'ada' })).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('works with form-encoded bodies, as RFC 6749 clients send them', async () => {
    const { hub, port, clock } = await startUserHub();
    const started = await authorize(port, 'device-1', { form: true });
    expect(started.status).toBe(200);
    // Case, dashes and spaces in what the user types do not matter.
    const typed = (started.body.user_code as string).toLowerCase().replace('-', ' ');
    await hub.approveDeviceLogin(typed, { userId: 'bob' });

    const granted = await poll(port, started.body.device_code as string, 'device-1', { form: true });
    expect(granted).toMatchObject({ status: 200, body: { user_id: 'bob', organization: { id: 'acme', role: 'member' } } });
    clock.advance(1_000);
    const form = `grant_type=${encodeURIComponent(DEVICE_CODE_GRANT)}&device_code=x&client_id=device-1`;
    expect(await post(port, '/v1/oauth/token', form, { form: true })).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('slow_down when polled sooner than the interval; each slow_down adds 5 s to it', async () => {
    const { port, clock } = await startUserHub();
    const { device_code } = (await authorize(port, 'device-1')).body as Record<string, string>;
    const pollAfter = async (ms: number) => {
      clock.advance(ms);
      return (await poll(port, device_code!, 'device-1')).body.error;
    };

    expect(await pollAfter(0)).toBe('authorization_pending');
    expect(await pollAfter(999)).toBe('slow_down'); // interval 1 s → 6 s
    expect(await pollAfter(5_999)).toBe('slow_down'); // too fast again → 11 s
    expect(await pollAfter(11_000)).toBe('authorization_pending');
    expect(await pollAfter(10_999)).toBe('slow_down'); // the interval stays grown → 16 s
    expect(await pollAfter(16_000)).toBe('authorization_pending');
  });

  it('access_denied once the user denies, by the admin route or the method', async () => {
    const { hub, port, clock } = await startUserHub();
    const first = (await authorize(port, 'device-1')).body as Record<string, string>;
    const second = (await authorize(port, 'device-2')).body as Record<string, string>;

    expect(await approve(port, { user_code: first.user_code, deny: true })).toMatchObject({ status: 200, body: { denied: true } });
    await hub.denyDeviceLogin(second.user_code!);

    expect(await poll(port, first.device_code!, 'device-1')).toMatchObject({ status: 400, body: { error: 'access_denied' } });
    expect(await poll(port, second.device_code!, 'device-2')).toMatchObject({ status: 400, body: { error: 'access_denied' } });
    // A decided code cannot be decided again.
    expect(await approve(port, { user_code: first.user_code, user_id: 'ada' })).toMatchObject({ status: 404 });
    await expect(hub.approveDeviceLogin(second.user_code!, { userId: 'ada' })).rejects.toThrow(
      expect.objectContaining({ code: 'unknown_user_code' }),
    );
    clock.advance(1_000);
    expect(await poll(port, first.device_code!, 'device-1')).toMatchObject({ body: { error: 'access_denied' } });
  });

  it('expired_token past expires_in; the user code can no longer be approved', async () => {
    const { hub, port, clock } = await startUserHub();
    const { device_code, user_code } = (await authorize(port, 'device-1')).body as Record<string, string>;
    clock.advance(DEVICE_CODE_LIFETIME_MS - 1);
    expect(await poll(port, device_code!, 'device-1')).toMatchObject({ body: { error: 'authorization_pending' } });

    clock.advance(1);
    await expect(hub.approveDeviceLogin(user_code!, { userId: 'ada' })).rejects.toThrow(HubError);
    expect(await approve(port, { user_code, user_id: 'ada' })).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await poll(port, device_code!, 'device-1')).toMatchObject({ status: 400, body: { error: 'expired_token' } });
  });

  it('an approval that came in time still expires with its device code', async () => {
    const { hub, port, clock } = await startUserHub();
    const { device_code, user_code } = (await authorize(port, 'device-1')).body as Record<string, string>;
    await hub.approveDeviceLogin(user_code!, { userId: 'ada' });
    clock.advance(DEVICE_CODE_LIFETIME_MS);
    expect(await poll(port, device_code!, 'device-1')).toMatchObject({ status: 400, body: { error: 'expired_token' } });
  });

  it('invalid_grant for an unknown device code or another client_id; the real client still gets its tokens', async () => {
    const { hub, port } = await startUserHub();
    const { device_code, user_code } = (await authorize(port, 'device-1')).body as Record<string, string>;
    await hub.approveDeviceLogin(user_code!, { userId: 'ada' });

    expect(await poll(port, 'not-a-device-code', 'device-1')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await poll(port, device_code!, 'device-2')).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await poll(port, device_code!, 'device-1')).status).toBe(200);
  });

  it('approval lands in the organization asked for, else the first; refuses unknown users and non-members', async () => {
    const { hub, port } = await startUserHub();
    const start = async () => (await authorize(port, 'device-1')).body as Record<string, string>;

    const inGlobex = await start();
    expect(await approve(port, { user_code: inGlobex.user_code, user_id: 'ada', organization: 'globex' })).toMatchObject({ status: 200 });
    const granted = await poll(port, inGlobex.device_code!, 'device-1');
    expect(granted.body).toMatchObject({ organization: GLOBEX });
    expect(claimsOf(granted.body.access_token as string).tenant).toBe('globex');

    const pending = await start();
    const invalid = { status: 400, body: { error: 'invalid_request' } };
    expect(await approve(port, { user_code: pending.user_code, user_id: 'mallory' })).toMatchObject(invalid);
    expect(await approve(port, { user_code: pending.user_code, user_id: 'bob', organization: 'globex' })).toMatchObject(invalid);
    expect(await approve(port, { user_code: pending.user_code })).toMatchObject(invalid);
    expect(await approve(port, { user_id: 'ada' })).toMatchObject(invalid);
    expect(await approve(port, { user_code: 'BBBB-BBBB', user_id: 'ada' })).toMatchObject({ status: 404, body: { error: 'not_found' } });
    await expect(hub.approveDeviceLogin(pending.user_code!, { userId: 'mallory' })).rejects.toThrow(
      expect.objectContaining({ code: 'unknown_user' }),
    );
    await expect(hub.approveDeviceLogin(pending.user_code!, { userId: 'bob', organization: 'globex' })).rejects.toThrow(
      expect.objectContaining({ code: 'not_a_member' }),
    );
    // Refusals leave the code waiting.
    expect(await poll(port, pending.device_code!, 'device-1')).toMatchObject({ body: { error: 'authorization_pending' } });
  });

  it('token endpoint: invalid_request for missing fields, unsupported_grant_type for other grants', async () => {
    const { port } = await startUserHub();
    const token = (body: Record<string, unknown>) => post(port, '/v1/oauth/token', body);

    expect(await token({ device_code: 'x', client_id: 'device-1' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(await token({ grant_type: DEVICE_CODE_GRANT, client_id: 'device-1' })).toMatchObject({ body: { error: 'invalid_request' } });
    expect(await token({ grant_type: DEVICE_CODE_GRANT, device_code: 'x' })).toMatchObject({ body: { error: 'invalid_request' } });
    expect(await token({ grant_type: 'refresh_token', client_id: 'device-1' })).toMatchObject({ body: { error: 'invalid_request' } });
    expect(await token({ grant_type: 'password', username: 'ada' })).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
  });

  it('has no OAuth routes, and no login methods, on a hub without the tokens option', async () => {
    const { hub, port } = await startHub({ staticToken: TOKEN });
    expect((await authorize(port, 'device-1')).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/v1/me`)).status).toBe(404);
    await expect(hub.approveDeviceLogin('BBBB-BBBB', { userId: 'ada' })).rejects.toThrow(
      expect.objectContaining({ code: 'tokens_disabled' }),
    );
  });
});
