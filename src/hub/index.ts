export { createHub, Hub } from './hub.ts';
export { CONNECT_PATH } from './routes.ts';
export type { DispatchMessage } from './dispatch.ts';
export type { HubFaults } from './faults.ts';
export type { HubAddress, HubListenOptions } from './listener.ts';
export type { HubApi } from './hub-api.ts';
export type { StoredTelemetryEvent, TelemetryBounds, TenantTelemetry } from './telemetry-store.ts';
export type { ApiKeyRefusal, StoredApiKey } from './api-keys.ts';
export type { ExecutionRequestInput, MessagingEventInput, MessagingResult } from './delivery.ts';
export type { ExtensionInstance, InstanceRegistration } from './channels.ts';
export type { ExecutionEventRecord, ExecutionHandle, ExecutionResult, ExecutionSnapshot, ExecutionStatus } from './executions.ts';
export type { UsageEntry, UsageSummary } from './usage-ledger.ts';
export type { ReloadResult } from './capability-reloads.ts';
export type { HubSettings, ReportedSettingsView } from './settings.ts';
export type { SettingsSubject } from './settings-sessions.ts';
export type { DocumentKey, HubSettingsDocument, ReportedSettings, SettingsPatchResult } from './settings-store.ts';
export { HubError, type HubErrorCode, TokenError, type TokenErrorCode } from './errors.ts';
export type { DeviceMessage, HubEvents, SessionInfo } from './events.ts';
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
} from './options.ts';
export {
  createTokenAuthority,
  type DeviceTokenClaims,
  type HubTokenClaims,
  type IssuedToken,
  type SigningKeyPair,
  TOKEN_ALG,
  TokenAuthority,
  type TokenAuthorityOptions,
  type TokenSubject,
  type UserTokenClaims,
} from './token-authority.ts';
export { DEVICE_TOKEN_PATH, JWKS_PATH, type TokenEndpointBehaviour } from './token-endpoint.ts';
export {
  DEVICE_AUTHORIZATION_PATH,
  DEVICE_CODE_GRANT_TYPE,
  ME_PATH,
  OAUTH_APPROVE_PATH,
  OAUTH_REVOKE_PATH,
  OAUTH_TOKEN_PATH,
  VERIFICATION_PATH,
} from './oauth-endpoint.ts';
