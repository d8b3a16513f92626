import { describe, expect, it, vi } from 'vitest';
import { createHub } from '../../../src/hub/index.ts';
import { api } from '../api-helpers.ts';
import { startHub, TOKEN } from '../helpers.ts';
import { fromAddress } from '../throttle/client-address-header.ts';
import { captureLog } from '../token-helpers.ts';
import { ADMIN, startUserHub } from '../user-helpers.ts';

// The hub sees the address a test names (throttle/client-address-header.ts); inline, as the factory may import nothing that imports the hub.
vi.mock('../../../src/http/client-address.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/http/client-address.ts')>();
  return {
    ...real,
    clientAddress: (req: import('node:http').IncomingMessage) =>
      (req.headers['x-test-client-address'] as string | undefined) ?? real.clientAddress(req),
  };
});

const REMOTE = '192.0.2.44';

/** Every kind of operator route: devices, revoke, dispatch, an execution, settings PATCH, login approval, usage across tenants. */
const OPERATOR_ROUTES: Array<[method: string, path: string, body?: unknown]> = [
  ['GET', '/v1/devices'],
  ['POST', '/v1/devices/device-1/revoke?tenant_id=tenant-1'],
  ['POST', '/v1/devices/device-1/executions?tenant_id=tenant-1', { job_type: 'tool', tool_name: 'echo' }],
  ['GET', '/v1/executions/req-1'],
  ['PATCH', '/v1/tenants/tenant-1/settings', { patch: { theme: 'dark' } }],
  ['POST', '/v1/oauth/approve', { user_code: 'WDJB-MJHT', user_id: 'ada' }],
  ['GET', '/v1/usage?tenant=tenant-1'],
];

describe('operator routes without an admin token', () => {
  it('refuse a client beyond loopback with 403 operator_loopback_only', async () => {
    const { port } = await startUserHub({ adminToken: undefined });
    for (const [method, path, body] of OPERATOR_ROUTES) {
      const answer = await api(port, method, path, fromAddress(REMOTE), body);
      expect([path, answer.status, answer.body?.error]).toEqual([path, 403, 'operator_loopback_only']);
    }
    expect((await api(port, 'GET', '/healthz', fromAddress(REMOTE))).status).toBe(200);
  });

  it('serve loopback clients, IPv4-mapped ones too', async () => {
    const { port } = await startUserHub({ adminToken: undefined });
    for (const address of [undefined, '::ffff:127.0.0.1', '::1']) {
      for (const [method, path, body] of OPERATOR_ROUTES) {
        const answer = await api(port, method, path, address === undefined ? {} : fromAddress(address), body);
        expect([address, path, [401, 403].includes(answer.status)]).toEqual([address, path, false]);
      }
    }
  });

  it('log a refusal with the address and the path', async () => {
    const log = captureLog();
    const { port } = await startHub({ staticToken: TOKEN, logger: log.logger });
    await api(port, 'GET', '/v1/devices', fromAddress(REMOTE));
    expect(log.output()).toContain('"address":"192.0.2.44"');
    expect(log.output()).toContain('operator request refused: no admin token, and not a loopback client');
  });
});

describe('operator routes with an admin token', () => {
  it('serve its bearer from any address, and refuse others 401', async () => {
    const { port } = await startUserHub();
    for (const [method, path, body] of OPERATOR_ROUTES) {
      const without = await api(port, method, path, {}, body);
      expect([path, without.status]).toEqual([path, 401]);
      const answer = await api(port, method, path, fromAddress(REMOTE, { authorization: `Bearer ${ADMIN}` }), body);
      expect([path, [401, 403].includes(answer.status)]).toEqual([path, false]);
    }
  });
});

describe('hub.listen beyond loopback', () => {
  it('warns without an admin token, and listens', async () => {
    const log = captureLog();
    const hub = createHub({ staticToken: TOKEN, logger: log.logger });
    try {
      await hub.listen({ port: 0, host: '0.0.0.0' });
      expect(log.output()).toContain('listening beyond loopback without an admin token');
    } finally {
      await hub.close();
    }
  });

  it('is quiet with an admin token, or on loopback', async () => {
    const log = captureLog();
    const withToken = createHub({ staticToken: TOKEN, adminToken: 'admin-1', logger: log.logger });
    const local = createHub({ staticToken: TOKEN, logger: log.logger });
    try {
      await withToken.listen({ port: 0, host: '0.0.0.0' });
      await local.listen({ port: 0, host: '127.0.0.1' });
      expect(log.output()).not.toContain('listening beyond loopback');
    } finally {
      await Promise.all([withToken.close(), local.close()]);
    }
  });
});
