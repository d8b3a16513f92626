/**
 * The reference hub's public entry. `hub.ts` composes the hub from folders by concern; each
 * imports only folders listed above it (and src/http/, src/protocol/, …):
 *
 * - `core/`: options, errors, events, the signing key pair: what every other folder uses.
 * - `throttle/`: failed credentials slow their sender down (per address and per credential id),
 *   counted behind `AttemptStore`.
 * - `admin/`: the operators' admin routes, and who may use operator routes (`OperatorAccess`: the
 *   admin token, or loopback clients only).
 * - `server/`: the `node:http` listener and the routing of requests and device upgrades.
 * - `auth/`: credentials, hub tokens and their endpoints, the signing keys (behind
 *   `SigningKeys`), user logins (OAuth), revocations.
 * - `session/`: one device socket each, the open sessions, and the `SessionHost` a session
 *   reaches the hub through.
 * - `usage/`: the usage ledger, behind `UsageStore`.
 * - `delivery/`: reliable delivery both ways, the device queues (behind `DeviceQueues`),
 *   executions, dispatch, capability reloads, and the operators' execution routes.
 * - `channels/`: channels between the cloud side and devices: tasks, the extension channel.
 * - `settings/`: settings documents (behind `SettingsDocuments`), their sync to sessions, and
 *   the settings routes.
 * - `api/`: the REST API: its routes, credentials, rate limit, API keys, shares and telemetry.
 * - `engine/`: where the state that can outlive the process is kept (`HubEngine`): the memory
 *   engine (the default) and the Redis engine (`redis/`), which hands out the stores of the
 *   folders above (docs/scaling.md).
 *
 * Beside `hub.ts` at the top: `hub-routes.ts` and `hub-session-host.ts` wire the folders into the
 * routes and into each session's host, and `faults.ts` makes the test hooks.
 */
export { createHub, Hub } from './hub.ts';
export { CONNECT_PATH } from './server/routes.ts';
export type { DispatchMessage } from './delivery/dispatch.ts';
export type { HubFaults } from './faults.ts';
export type { HubAddress, HubListenOptions } from './server/listener.ts';
export type { HubApi } from './api/hub-api.ts';
export type { StoredTelemetryEvent, TelemetryBounds, TenantTelemetry } from './api/telemetry-store.ts';
export type { ApiKeyRefusal, StoredApiKey } from './api/api-keys.ts';
export type { ExecutionRequestInput, MessagingEventInput, MessagingResult } from './delivery/delivery.ts';
export type { ExtensionInstance, InstanceRegistration } from './channels/channels.ts';
export type { ExecutionEventRecord, ExecutionHandle, ExecutionResult, ExecutionSnapshot, ExecutionStatus } from './delivery/executions.ts';
export type { UsageEntry, UsageSummary } from './usage/usage-store.ts';
export type { ReloadResult } from './delivery/capability-reloads.ts';
export type { HubSettings, ReportedSettingsView } from './settings/settings.ts';
export type { SettingsSubject } from './settings/settings-sessions.ts';
export type { DocumentKey, HubSettingsDocument, ReportedSettings, SettingsPatchResult } from './settings/settings-documents.ts';
export { HubError, type HubErrorCode, TokenError, type TokenErrorCode } from './core/errors.ts';
export type { DeviceMessage, HubEvents, SessionInfo } from './core/events.ts';
export type {
  Authenticate,
  DeliveryOptions,
  DeviceCredential,
  HubClock,
  HubOptions,
  HubTokenOptions,
  HubUser,
  OrganizationRole,
  UserOrganization,
} from './core/options.ts';
export {
  createTokenAuthority,
  type DeviceTokenClaims,
  type HubTokenClaims,
  type IssuedToken,
  TokenAuthority,
  type TokenAuthorityOptions,
  type TokenSubject,
  type UserTokenClaims,
} from './auth/token-authority.ts';
export type { SigningKeyPair } from './core/signing-key-pair.ts';
export { TOKEN_ALG } from './auth/signing-keys.ts';
export { DEVICE_TOKEN_PATH, JWKS_PATH, type TokenEndpointBehaviour } from './auth/token-endpoint.ts';
export {
  DEVICE_AUTHORIZATION_PATH,
  DEVICE_CODE_GRANT_TYPE,
  ME_PATH,
  OAUTH_APPROVE_PATH,
  OAUTH_REVOKE_PATH,
  OAUTH_TOKEN_PATH,
  VERIFICATION_PATH,
} from './auth/oauth-endpoint.ts';
