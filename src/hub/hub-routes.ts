import { clientAddress } from '../http/client-address.ts';
import { createAdminHandler } from './admin/admin.ts';
import type { OperatorAccess } from './admin/operator-access.ts';
import { createApiRoutes } from './api/api-routes.ts';
import type { HubApi } from './api/hub-api.ts';
import type { HubAuth } from './auth/auth.ts';
import type { HubChannels } from './channels/channels.ts';
import type { SessionInfo } from './core/events.ts';
import type { ResolvedHubOptions } from './core/options.ts';
import type { HubDelivery } from './delivery/delivery.ts';
import { createExecutionRoutes } from './delivery/execution-routes.ts';
import { createRoutes, type HubRoutes } from './server/routes.ts';
import type { OpenSessions } from './session/open-sessions.ts';
import type { SessionHost } from './session/session-host.ts';
import { Session } from './session/session.ts';
import { createSettingsRoutes } from './settings/settings-routes.ts';
import type { HubSettings } from './settings/settings.ts';
import type { FailureThrottle } from './throttle/failure-throttle.ts';
import type { UsageSummary } from './usage/usage-store.ts';

/** The hub's own methods its routes call, so a route does (and logs) what the same call on the hub does. */
export interface HubRouteActions {
  /** `hub.usage`. */
  usage(tenantId: string): UsageSummary;
  /** `hub.devices`. */
  devices(): SessionInfo[];
  /** `hub.revokeDevice`. */
  revokeDevice(deviceId: string, options?: { tenantId?: string }): number;
}

/** The parts of a hub its routes reach. */
export interface HubRoutesParts {
  options: ResolvedHubOptions;
  auth: HubAuth;
  /** Who may use the operator routes. */
  access: OperatorAccess;
  /** Slows down failed credentials (API keys here; the others in `auth`). */
  throttle: FailureThrottle;
  delivery: HubDelivery;
  settings: HubSettings;
  /** The REST API's state (`hub.api`). */
  api: HubApi;
  /** Which tenant opened a task, for share links to it. */
  channels: Pick<HubChannels, 'taskTenant'>;
  sessions: OpenSessions;
  host: SessionHost;
  /** The hub itself. */
  hub: HubRouteActions;
  /** Whether device sockets are taken now. */
  accepting(): boolean;
  /** `host:port` the hub listens on, for links in answers to requests without a usable `Host`. */
  hostPort(): string;
}

/**
 * Every route of a hub, in the order they claim a request: the token and OAuth endpoints, the
 * REST API (docs/api.md; `/v1/usage` only with a tenant credential), the operators' execution and
 * usage routes, the settings routes, then the admin routes (and their 404); and
 * the device WebSocket endpoint, each accepted socket a {@link Session}.
 *
 * @example
 * const routes = createHubRoutes({ options, auth, access, throttle, delivery, settings: hub.settings, api: hub.api, channels, sessions, host, hub, accepting, hostPort });
 * http.createServer(routes.request).on('upgrade', routes.upgrade);
 */
export function createHubRoutes(parts: HubRoutesParts): HubRoutes {
  const { options, auth, access, throttle, delivery, settings, sessions, host, hub, channels } = parts;
  const { logger, clock } = options;
  const apiRoutes = createApiRoutes({
    access,
    logger,
    api: parts.api,
    clock,
    rateLimit: options.apiRateLimit,
    auth: { device: auth, users: options.tokens?.users ?? [], throttle, now: () => clock.now() },
    settings,
    execution: (requestId) => delivery.snapshot(requestId),
    taskTenant: (taskId) => channels.taskTenant(taskId),
    usage: (tenantId) => hub.usage(tenantId),
    fallbackHost: () => parts.hostPort(),
  });
  const executionRoutes = createExecutionRoutes({ access, logger, delivery, usage: (tenantId) => hub.usage(tenantId) });
  const settingsRoutes = createSettingsRoutes({ access, logger, auth, settings });
  return createRoutes({
    maxFrameBytes: options.maxFrameBytes,
    claim: (req, res) => auth.handle(req, res) || apiRoutes(req, res) || executionRoutes(req, res) || settingsRoutes(req, res),
    admin: createAdminHandler({
      access,
      devices: () => hub.devices(),
      revokeDevice: (deviceId, tenantId) => hub.revokeDevice(deviceId, { tenantId }),
      logger,
    }),
    accepting: () => parts.accepting(),
    accept: (ws, req) => sessions.add(new Session(ws, host, clientAddress(req))),
  });
}
