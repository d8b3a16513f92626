import { describe, expect, it } from 'vitest';
import { api, asDevice } from '../hub/api-helpers.ts';
import { envelope, type Frame, startHub, TestClient, TOKEN } from '../hub/helpers.ts';
import { startTokenHub } from '../hub/token-helpers.ts';

/*
 * A device of one tenant reaching for another tenant's executions, channels, usage or settings.
 * Covered elsewhere: reporting on or billing another tenant's execution over WS
 * (test/integration/executions-hub.test.ts), joining another tenant's task
 * (test/integration/channels-hub.test.ts), answering another device's chat message or reload
 * (test/hub/channels.test.ts), settings pushed only to the tenant's sessions and `/v1/settings`
 * refusing another tenant claimed with a hub token (test/hub/settings.test.ts), API keys and
 * shares of another tenant (test/hub/api-keys.test.ts, test/hub/api-shares.test.ts).
 */

const ADMIN = 'admin-3e9a-secret';
const join = (channel: string) => envelope('channel_join', { channel });
const registration = (instanceId: string) => ({ instance_id: instanceId, app: { name: 'vscode', version: '1' }, platform: 'linux' });

/** The frames a client has received by the time it gets the answer to a heartbeat sent now. */
async function drain(client: TestClient): Promise<Frame[]> {
  const seq = client.heartbeat();
  const frames: Frame[] = [];
  for (let frame = await client.next(); !(frame.type === 'heartbeat_ack' && frame.seq === seq); frame = await client.next())
    frames.push(frame);
  return frames;
}

describe('tenants over the WebSocket', () => {
  it("keeps each tenant's extension channel its own: publishes, registrations and messages do not cross", async () => {
    const { hub, url } = await startHub();
    const relayed: string[] = [];
    hub.on('channel_message', (info, message) => relayed.push(`${info.tenant_id}:${message.event}`));
    const acme = (await TestClient.connect(url, { device_id: 'laptop', tenant_id: 'acme' })).client;
    const globex = (await TestClient.connect(url, { device_id: 'laptop', tenant_id: 'globex' })).client;
    for (const client of [acme, globex]) {
      client.send(join('extension'));
      expect(await client.next()).toMatchObject({ type: 'channel_joined', channel: 'extension' });
    }
    globex.send(envelope('channel_message', { channel: 'extension', event: 'register', payload: registration('vscode-acme-1') }));
    expect(await drain(globex)).toEqual([]);

    hub.publish('acme', 'extension', 'start_task', { instance_id: 'vscode-acme-1', task_id: 'tsk-1' });
    expect(await acme.next()).toMatchObject({ type: 'channel_message', channel: 'extension', event: 'start_task' });
    expect(await drain(globex)).toEqual([]);
    // globex's instance is globex's, even under an instance id acme might use.
    expect(hub.instances('acme')).toEqual([]);
    expect(hub.instances('globex')).toEqual([expect.objectContaining({ instance_id: 'vscode-acme-1', device_id: 'laptop' })]);
    expect(relayed).toEqual(['globex:register']);
  });

  it("cannot send on another tenant's task without joining it (not_joined), nor join it (unauthorized)", async () => {
    const { hub, url } = await startHub();
    hub.openTask('acme', 'tsk-acme');
    const relayed: unknown[] = [];
    hub.on('channel_message', (...args) => relayed.push(args));
    const { client } = await TestClient.connect(url, { tenant_id: 'globex' });
    client.send(envelope('channel_message', { channel: 'task:tsk-acme', event: 'approve', payload: { step_id: 's1' } }));
    expect(await client.next()).toMatchObject({ type: 'error', code: 'not_joined' });
    client.send(join('task:tsk-acme'));
    expect(await client.next()).toMatchObject({ type: 'channel_refused', reason: 'unauthorized' });
    expect(relayed).toEqual([]);
    expect(hub.channelMembers('acme', 'task:tsk-acme')).toEqual([]);
  });

  it('cannot acknowledge away the work queued for the same device id in another tenant', async () => {
    const { hub, url } = await startHub();
    const run = hub.execute('laptop', { request_id: 'acme-req', job_type: 'tool', tool_name: 'x' }, { tenantId: 'acme' });
    const impostor = (await TestClient.connect(url, { device_id: 'laptop', tenant_id: 'globex' })).client;
    impostor.send(envelope('ack', { seq: 1_000 }));
    impostor.send(envelope('execution_event', { seq: 1, event_id: 'forged', request_id: 'acme-req', event_type: 'completed' }));
    // Acknowledged (so not resent for ever), and recorded nowhere.
    expect(await impostor.next()).toMatchObject({ type: 'ack', seq: 1 });
    expect(hub.execution('acme-req')!.status).toBe('queued');

    const owner = (await TestClient.connect(url, { device_id: 'laptop', tenant_id: 'acme' })).client;
    const delivered = await owner.next();
    expect(delivered).toMatchObject({ type: 'execution_request', request_id: 'acme-req' });
    owner.send(
      envelope('execution_event', {
        seq: 1,
        event_id: 'acme-req:end',
        request_id: 'acme-req',
        event_type: 'completed',
        data: { result: 'real' },
      }),
    );
    expect(await run.result).toMatchObject({ status: 'completed', data: { result: 'real' } });
  });
});

describe('tenants over HTTP', () => {
  it("refuses a device credential on the operators' routes: another tenant's executions cannot be read, cancelled or dispatched to (401)", async () => {
    const { hub, port } = await startTokenHub({ adminToken: ADMIN });
    hub.execute('laptop', { request_id: 'globex-req', job_type: 'tool', tool_name: 'x' }, { tenantId: 'globex' });
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    const device = asDevice({ token });
    const attempts: Array<[string, string, unknown?]> = [
      ['GET', '/v1/executions/globex-req'],
      ['POST', '/v1/executions/globex-req/cancel'],
      ['POST', '/v1/devices/laptop/executions?tenant_id=globex', { job_type: 'tool', tool_name: 'x' }],
      [
        'POST',
        '/v1/devices/laptop/messages?tenant_id=globex',
        { channel: 'line', event_type: 'message', message: { text: 'hi' }, user_id: 'U1' },
      ],
      ['GET', '/v1/devices'],
      ['POST', '/v1/devices/laptop/revoke?tenant_id=globex'],
    ];
    for (const [method, path, body] of attempts) {
      expect(await api(port, method, path, device, body), `${method} ${path}`).toMatchObject({
        status: 401,
        body: { error: 'unauthorized' },
      });
    }
    expect(hub.execution('globex-req')).toMatchObject({ status: 'queued' });
    expect(hub.capacityOf({ device_id: 'laptop', tenant_id: 'globex' }).waiting).toBe(1);
    expect((await api(port, 'GET', '/v1/executions/globex-req', { authorization: `Bearer ${ADMIN}` })).status).toBe(200);
  });

  it("refuses another tenant's usage: 403 for ?tenant= of another, 401 for another tenant claimed with a hub token", async () => {
    const { hub, port } = await startTokenHub();
    const { token } = await hub.issueToken({ device_id: 'device-1', tenant_id: 'tenant-1' });
    expect(await api(port, 'GET', '/v1/usage?tenant=tenant-2', asDevice({ token }))).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    expect(await api(port, 'GET', '/v1/usage', asDevice({ tenant_id: 'tenant-2', token }))).toMatchObject({
      status: 401,
      body: { error: 'unauthorized' },
    });
    expect(await api(port, 'GET', '/v1/usage', asDevice({ token }))).toMatchObject({ status: 200, body: { tenant_id: 'tenant-1' } });
  });

  it("refuses a device credential on the operators' settings routes of any tenant (401), and changes nothing", async () => {
    const { hub, port } = await startHub({ staticToken: TOKEN, adminToken: ADMIN });
    const device = asDevice({ tenant_id: 'tenant-1' });
    for (const path of [
      '/v1/tenants/tenant-2/settings',
      '/v1/tenants/tenant-2/devices/device-9/settings',
      '/v1/tenants/tenant-2/users/ada/settings',
    ]) {
      expect(await api(port, 'GET', path, device), path).toMatchObject({ status: 401 });
      expect(await api(port, 'PATCH', path, device, { patch: { theme: 'pwned' } }), path).toMatchObject({ status: 401 });
    }
    expect(hub.settings.org('tenant-2')).toMatchObject({ version: 0, settings: {} });
    expect(hub.settings.user('tenant-2', { deviceId: 'device-9' })).toMatchObject({ version: 0 });
  });
});
