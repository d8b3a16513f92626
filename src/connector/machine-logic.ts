import { createDeviceTokenActor } from '../actors/device-token.ts';
import { createSettingsHttpActors } from '../actors/settings-http.ts';
import type { createSocketActor } from '../actors/socket.ts';
import { createUserLoginActors } from '../actors/user-login.ts';
import type { HttpAdapter } from '../adapters/http.ts';
import { createMemoryStorage } from '../adapters/storage.ts';
import type { ApiCredentials } from '../api/client.ts';
import { type AuthMode, authMachine } from '../machines/auth.ts';
import { connectionMachine } from '../machines/connection.ts';
import { settingsSyncMachine } from '../machines/settings-sync.ts';
import { supervisorMachine } from '../machines/supervisor.ts';
import { createSecretStore, type SecretStore } from '../storage/secret-store.ts';
import { type ConnectorConfig, defaultTokenUrl, hubOrigin } from './config.ts';

/**
 * The supervisor with its effects provided: the socket actor, the token fetchers of the auth
 * mode in use, and the settings requests. Static and standalone modes fetch nothing and keep the
 * machine's defaults; standalone has no settings requests either.
 */
export function connectorLogic(options: {
  cfg: ConnectorConfig;
  authMode: AuthMode;
  http: HttpAdapter;
  /** Where a user login keeps its refresh token; default in memory. */
  secrets: SecretStore | undefined;
  /** What settings requests authenticate with. */
  credentials: ApiCredentials;
  socket: ReturnType<typeof createSocketActor>;
}) {
  const { cfg, authMode, http, credentials, socket } = options;
  const authActors =
    authMode === 'user'
      ? createUserLoginActors({
          http,
          hubOrigin: hubOrigin(cfg.url!),
          clientId: cfg.deviceId,
          secrets: options.secrets ?? createSecretStore(createMemoryStorage()),
        })
      : authMode === 'device'
        ? {
            fetchToken: createDeviceTokenActor({
              http,
              tokenUrl: cfg.tokenUrl ?? defaultTokenUrl(cfg.url!),
              deviceId: cfg.deviceId,
              tenantId: cfg.tenantId,
              credential: cfg.credential!,
            }),
          }
        : {};
  const settingsActors =
    cfg.url === undefined ? {} : createSettingsHttpActors({ http, origin: hubOrigin(cfg.url), headers: credentials.headers });
  return supervisorMachine.provide({
    actors: {
      auth: authMachine.provide({ actors: authActors }),
      connection: connectionMachine.provide({ actors: { socket } }),
      settings: settingsSyncMachine.provide({ actors: settingsActors }),
    },
  });
}
