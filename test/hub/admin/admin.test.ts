import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHub, TestClient, TOKEN } from '../helpers.ts';

const ADMIN = 'admin-7c1e';

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: response.status, body: (await response.json()) as unknown, type: response.headers.get('content-type') };
}

describe('hub admin routes', () => {
  it('lists devices and reports health', async () => {
    const { hub, url, port } = await startHub();
    expect(await get(port, '/healthz')).toMatchObject({ status: 200, body: { ok: true, sessions: 0 } });
    const { ack } = await TestClient.connect(url, { device_id: 'd1', tenant_id: 't1' });

    const devices = await get(port, '/v1/devices');
    expect(devices.status).toBe(200);
    expect(devices.type).toContain('application/json');
    expect(devices.body).toEqual({ devices: hub.devices() });
    expect(devices.body).toMatchObject({ devices: [{ device_id: 'd1', tenant_id: 't1', session_id: ack.session_id }] });
    expect(await get(port, '/healthz?probe=1')).toMatchObject({ status: 200, body: { ok: true, sessions: 1 } });
  });

  it('answers 404 JSON for an unknown path and 405 for a wrong method', async () => {
    const { port } = await startHub();
    expect(await get(port, '/v1/nope')).toEqual({ status: 404, body: { error: 'not_found' }, type: expect.stringContaining('json') });
    const post = await fetch(`http://127.0.0.1:${port}/v1/devices`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('requires the admin bearer when adminToken is set, except on /healthz', async () => {
    const { port } = await startHub({ staticToken: TOKEN, adminToken: ADMIN });

    expect(await get(port, '/v1/devices')).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect((await get(port, '/v1/devices', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(port, '/v1/devices', { authorization: ADMIN })).status).toBe(401);
    expect(await get(port, '/v1/devices', { authorization: `Bearer ${ADMIN}` })).toEqual({
      status: 200,
      body: { devices: [] },
      type: expect.stringContaining('json'),
    });
    expect((await get(port, '/healthz')).status).toBe(200);
  });

  it('answers 404 to a WebSocket upgrade on any other path', async () => {
    const { port } = await startHub();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/other`);
    const status = await new Promise<number | undefined>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
    });
    expect(status).toBe(404);
  });
});
