import { describe, expect, it } from 'vitest';
import { envelope, type Frame, nextEvent, startHub, TestClient, TOKEN } from '../helpers.ts';

/*
 * The operators' routes as docs/protocol.md documents them ("Hub API for executions",
 * "Messaging", "Revocation"): each request body and each answer, status and JSON.
 */

const ADMIN = 'admin-7d21';
const WHO = { device_id: 'device-1', tenant_id: 'tenant-1' };

async function adminHub() {
  const started = await startHub({ staticToken: TOKEN, adminToken: ADMIN });
  const call = async (method: string, path: string, body?: unknown, { admin = true } = {}) => {
    const response = await fetch(`http://127.0.0.1:${started.port}${path}`, {
      method,
      headers: { ...(admin && { authorization: `Bearer ${ADMIN}` }), 'content-type': 'application/json' },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return { ...started, call };
}

/** Waits for the next frame of `type`, skipping others (`ack`s). */
async function nextOf(client: TestClient, type: string): Promise<Frame> {
  for (;;) {
    const frame = await client.next();
    if (frame.type === type) return frame;
  }
}

const tool = (request_id: string) => ({ request_id, job_type: 'tool', tool_name: 'echo' });
const chat = { channel: 'line', event_type: 'message', message: { text: 'hi' }, user_id: 'u-1' };

describe('POST /v1/executions/{id}/cancel', () => {
  it("passes the body's reason to the device's execution_cancel, and the execution ends with it", async () => {
    const { hub, url, call } = await adminHub();
    const { client } = await TestClient.connect(url, WHO);
    expect(await call('POST', '/v1/devices/device-1/executions', tool('r1'))).toEqual({
      status: 202,
      body: { request_id: 'r1', status: 'delivered' },
    });
    const sent = await nextOf(client, 'execution_request');

    expect(await call('POST', '/v1/executions/r1/cancel', { reason: 'operator pressed stop' })).toEqual({
      status: 202,
      body: { request_id: 'r1', cancelling: true },
    });
    const cancel = await nextOf(client, 'execution_cancel');
    expect(cancel).toMatchObject({ request_id: 'r1', reason: 'operator pressed stop' });
    // The device ends it as the executor does: the cancel's reason in the terminal event.
    client.send(envelope('ack', { seq: cancel.seq }));
    const applied = nextEvent(hub, 'message');
    client.send(
      envelope('execution_event', {
        event_id: 'r1:end',
        request_id: 'r1',
        event_type: 'cancelled',
        data: { reason: cancel.reason, duration_ms: 5 },
        seq: 1,
      }),
    );
    await applied;
    expect(hub.execution('r1')).toMatchObject({ status: 'cancelled', outcome: { reason: 'operator pressed stop', duration_ms: 5 } });
    expect(sent.seq).toBe(1);

    // Ended: 409, saying so.
    expect(await call('POST', '/v1/executions/r1/cancel', { reason: 'again' })).toEqual({
      status: 409,
      body: { error: 'already_ended', message: "execution 'r1' has ended", request_id: 'r1', status: 'cancelled' },
    });
  });

  it('ends a request that never left the hub at once, with the reason or the default one', async () => {
    const { hub, call } = await adminHub();
    await call('POST', '/v1/devices/away/executions?tenant_id=tenant-1', tool('q1'));
    await call('POST', '/v1/devices/away/executions?tenant_id=tenant-1', tool('q2'));
    expect((await call('POST', '/v1/executions/q1/cancel', { reason: 'not needed any more' })).status).toBe(202);
    expect(hub.execution('q1')).toMatchObject({ status: 'cancelled', outcome: { reason: 'not needed any more', duration_ms: 0 } });
    // No body (or an object without a reason): the hub's default.
    expect((await call('POST', '/v1/executions/q2/cancel')).status).toBe(202);
    expect((await call('GET', '/v1/executions/q2')).body).toMatchObject({
      status: 'cancelled',
      outcome: { reason: 'cancelled at the hub', duration_ms: 0 },
    });
  });

  it('refuses a body that is not an object with a string reason (400), an unknown execution (404), another method (405), no admin token (401)', async () => {
    const { call } = await adminHub();
    await call('POST', '/v1/devices/away/executions?tenant_id=tenant-1', tool('x1'));
    const invalid = {
      error: 'invalid_request',
      message: 'the body must be empty or a JSON object with an optional reason of 1 to 1024 characters',
    };
    for (const body of ['not json', [1], { reason: 42 }, { reason: '' }, { reason: 'x'.repeat(1025) }]) {
      expect(await call('POST', '/v1/executions/x1/cancel', body)).toEqual({ status: 400, body: invalid });
    }
    expect(await call('POST', '/v1/executions/nope/cancel', { reason: 'r' })).toEqual({ status: 404, body: { error: 'not_found' } });
    expect(await call('GET', '/v1/executions/x1/cancel')).toEqual({ status: 405, body: { error: 'method_not_allowed' } });
    expect(await call('POST', '/v1/executions/x1/cancel', {}, { admin: false })).toEqual({ status: 401, body: { error: 'unauthorized' } });
    // Still queued: none of these cancelled it.
    expect((await call('GET', '/v1/executions/x1')).body).toMatchObject({ status: 'queued' });
  });
});

describe('POST /v1/devices/{id}/messages', () => {
  it('answers 202 with the request id at once, or with wait=1, 200 with the first final reply', async () => {
    const { url, call } = await adminHub();
    const { client } = await TestClient.connect(url, WHO);
    const queued = await call('POST', '/v1/devices/device-1/messages', chat);
    expect(queued).toEqual({ status: 202, body: { request_id: expect.stringMatching(/^msg_/) } });
    expect(await nextOf(client, 'messaging_event')).toMatchObject({ request_id: queued.body.request_id, ...chat });

    const waiting = call('POST', '/v1/devices/device-1/messages?wait=1', { ...chat, request_id: 'm-wait' });
    const event = await nextOf(client, 'messaging_event');
    expect(event).toMatchObject({ request_id: 'm-wait' });
    // `processing` is not final: the answer waits for the next reply.
    client.send(envelope('messaging_reply', { request_id: 'm-wait', channel: 'line', result: { status: 'processing' }, seq: 1 }));
    client.send(
      envelope('messaging_reply', { request_id: 'm-wait', channel: 'line', result: { status: 'completed', text: 'hello' }, seq: 2 }),
    );
    expect(await waiting).toEqual({ status: 200, body: { request_id: 'm-wait', reply: { status: 'completed', text: 'hello' } } });
  });

  it('refuses a bad body (400), an offline device without tenant_id (400), a request id waiting for its reply (409)', async () => {
    const { url, call } = await adminHub();
    await TestClient.connect(url, WHO);
    expect(await call('POST', '/v1/devices/device-1/messages', 'nope')).toEqual({
      status: 400,
      body: { error: 'invalid_request', message: 'the body must be a JSON object' },
    });
    expect(await call('POST', '/v1/devices/device-1/messages', { channel: 'line' })).toEqual({
      status: 400,
      body: { error: 'invalid_message', message: expect.stringContaining('messaging_event') },
    });
    expect(await call('POST', '/v1/devices/away/messages', chat)).toEqual({
      status: 400,
      body: { error: 'tenant_required', message: expect.any(String) },
    });
    expect((await call('POST', '/v1/devices/away/messages?tenant_id=tenant-1', chat)).status).toBe(202);
    expect((await call('POST', '/v1/devices/device-1/messages', { ...chat, request_id: 'm-dup' })).status).toBe(202);
    expect(await call('POST', '/v1/devices/device-1/messages', { ...chat, request_id: 'm-dup' })).toEqual({
      status: 409,
      body: { error: 'duplicate_request', message: "messaging event 'm-dup' is waiting for its reply" },
    });
  });
});

describe('POST /v1/devices/{id}/revoke', () => {
  it('revokes in one tenant or all, says how many sessions it closed; only hub.unrevokeDevice lifts it', async () => {
    const { hub, url, call } = await adminHub();
    const { client } = await TestClient.connect(url, WHO);
    expect(await call('POST', '/v1/devices/device-1/revoke?tenant_id=tenant-1')).toEqual({
      status: 200,
      body: { device_id: 'device-1', tenant_id: 'tenant-1', closed: 1 },
    });
    expect(await client.closed).toEqual({ code: 4007, reason: 'revoked' });
    expect(await call('POST', '/v1/devices/other/revoke')).toEqual({
      status: 200,
      body: { device_id: 'other', tenant_id: null, closed: 0 },
    });
    expect(await call('POST', '/v1/devices/device-1/revoke?tenant_id=')).toEqual({ status: 400, body: { error: 'invalid_request' } });
    expect(await call('GET', '/v1/devices/device-1/revoke')).toEqual({ status: 405, body: { error: 'method_not_allowed' } });
    expect(await call('POST', '/v1/devices/device-1/revoke', undefined, { admin: false })).toEqual({
      status: 401,
      body: { error: 'unauthorized' },
    });
    // No route lifts a revocation.
    expect((await call('POST', '/v1/devices/device-1/unrevoke')).status).toBe(404);
    expect((await call('DELETE', '/v1/devices/device-1/revoke')).status).toBe(405);
    const refused = await TestClient.open(url);
    refused.send(envelope('connect', { ...WHO, token: TOKEN }));
    expect(await refused.closed).toEqual({ code: 4007, reason: 'revoked' });

    hub.unrevokeDevice('device-1', { tenantId: 'tenant-1' });
    expect((await TestClient.connect(url, WHO)).ack.type).toBe('connect_ack');
  });
});
