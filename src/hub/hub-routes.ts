import { createAdminHandler } from './admin.ts';
import type { HubAuth } from './auth.ts';
import type { HubDelivery } from './delivery.ts';
import { createExecutionRoutes } from './execution-routes.ts';
import type { Hub } from './hub.ts';
import type { OpenSessions } from './open-sessions.ts';
import type { ResolvedHubOptions } from './options.ts';
import { createRoutes, type HubRoutes } from './routes.ts';
import type { SessionHost } from './session-host.ts';
import { Session } from './session.ts';
import type { HubSettings } from './settings.ts';
import { createSettingsRoutes } from './settings-routes.ts';

/** The parts of a hub its routes reach. */
export interface HubRoutesParts {
  options: ResolvedHubOptions;
  auth: HubAuth;
  delivery: HubDelivery;
  settings: HubSettings;
  sessions: OpenSessions;
  host: SessionHost;
  /** The hub's own methods: a route does (and logs) what the same call on the hub does. */
  hub: Pick<Hub, 'usage' | 'devices' | 'revokeDevice'>;
  /** Whether device sockets are taken now. */
  accepting(): boolean;
}

/**
 * Every route of a hub, in the order they claim a request: the token and OAuth endpoints, the
 * execution and usage routes, the settings routes, then the admin routes (and their 404); and
 * the device WebSocket endpoint, each accepted socket a {@link Session}.
 *
 * @example
 * const routes = createHubRoutes({ options, auth, delivery, settings: hub.settings, sessions, host, hub, accepting: () => listener.accepting });
 * http.createServer(routes.request).on('upgrade', routes.upgrade);
 */
export function createHubRoutes(parts: HubRoutesParts): HubRoutes {
  const { options, auth, delivery, settings, sessions, host, hub } = parts;
  const { adminToken, logger } = options;
  const executionRoutes = createExecutionRoutes({ adminToken, logger, delivery, usage: (tenantId) => hub.usage(tenantId) });
  const settingsRoutes = createSettingsRoutes({ adminToken, logger, auth, settings });
  return createRoutes({
    maxFrameBytes: options.maxFrameBytes,
    claim: (req, res) => auth.handle(req, res) || executionRoutes(req, res) || settingsRoutes(req, res),
    admin: createAdminHandler({
      adminToken,
      devices: () => hub.devices(),
      revokeDevice: (deviceId, tenantId) => hub.revokeDevice(deviceId, { tenantId }),
      logger,
    }),
    accepting: () => parts.accepting(),
    accept: (ws, req) => sessions.add(new Session(ws, host, req.socket.remoteAddress)),
  });
}
