import type { Permission } from '../../src/api/contract.ts';
import type { Hub } from '../../src/hub/index.ts';
import { TOKEN } from './helpers.ts';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The JSON body; undefined for an answer without one (204). */
  body: Record<string, unknown> | undefined;
}

/** Calls a REST route of the hub on `port`; an object body is sent as JSON, a string as is. */
export async function api(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<ApiAnswer> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>),
  };
}

/** The headers of a request made with an API key (nothing else is needed). */
export const withKey = (secret: string): Record<string, string> => ({ authorization: `Bearer ${secret}` });

/** The headers of a request made as a device: its bearer and the `x-device-id` / `x-tenant-id` headers. */
export const asDevice = ({
  device_id = 'device-1',
  tenant_id = 'tenant-1',
  token = TOKEN,
}: { device_id?: string; tenant_id?: string; token?: string } = {}): Record<string, string> => ({
  authorization: `Bearer ${token}`,
  'x-device-id': device_id,
  'x-tenant-id': tenant_id,
});

/** Every permission there is. */
export const ALL_PERMISSIONS: Permission[] = ['usage:read', 'shares:write', 'api_keys:manage', 'telemetry:write', 'settings:read'];

/** A key of `tenantId` with `permissions` (default: all of them), made through the hub's API. */
export function keyOf(hub: Hub, tenantId: string, permissions: Permission[] = ALL_PERMISSIONS): { id: string; secret: string } {
  const { id, secret } = hub.api.createApiKey(tenantId, { name: `test key of ${tenantId}`, permissions });
  return { id, secret };
}
