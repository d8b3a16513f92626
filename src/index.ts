/**
 * cloudtether: keeps a local process tethered to a cloud hub over one authenticated WebSocket,
 * and keeps it working when the hub is away.
 *
 * @example
 * import { createConnector, connectorConfigFromEnv } from 'cloudtether';
 * const connector = createConnector(connectorConfigFromEnv());
 * connector.start();
 */
export {
  createConnector,
  type Connector,
  type ConnectorEvent,
  type ConnectorOptions,
  type ExecutionsStatus,
  type RuntimeClock,
} from './connector/connector.ts';
export { type ConnectorStore, createMemoryStore, openConnectorStore } from './connector/remote-work.ts';
export { realClock } from './util/clock.ts';
export type { ChannelHandle, ChannelNotice } from './connector/channels.ts';
export { ExtensionCommand, type ExtensionInstance, type ExtensionOptions, registerExtension } from './channel-clients/extension.ts';
export { joinTask, TaskCommands, type TaskChannel, type TaskHandlers } from './channel-clients/task.ts';
export type { MessagingAnswer, MessagingHandler } from './messaging/router.ts';
export { ChannelPolicy, channelMachine, type ChannelStateName } from './machines/channel.ts';
export {
  ExecutionError,
  type ExecutionContext,
  type ExecutionFailureCode,
  type HandledJobType,
  type JobHandler,
  type UsageInput,
} from './execution/handlers.ts';
export { type Capacity, defaultExecutorLimits, type ExecutorLimits } from './execution/executor.ts';
export { defaultOutboxPolicy, type OutboxLoss, type OutboxPolicy } from './delivery/outbox.ts';
export { createMemoryRecordLog, openRecordLog, type LogRecord, type LogRepair, type RecordLog } from './storage/record-log.ts';
export type { StorageStatus } from './storage/storage-health.ts';
export {
  ConfigError,
  ConnectorConfig,
  type ConnectorConfigInput,
  connectorConfigFromEnv,
  parseConnectorConfig,
} from './connector/config.ts';
export type { ConnectorStatus, StateChange } from './connector/status.ts';
export { type EditOutcome, SettingsError, type SettingsHandle, type SettingsNotice } from './connector/settings.ts';
export type { SettingsPolicy } from './machines/settings-sync.ts';
export { ApiClient, type ApiClientOptions, type ApiCredentials, type ApiRetryPolicy, apiKeyCredentials } from './api/client.ts';
export { ApiError, type ApiErrorKind } from './api/api-error.ts';
export {
  type ApiKeyInfo,
  type ApiKeyWithSecret,
  type CreateApiKey,
  type CreateShare,
  DEFAULT_RATE_LIMIT,
  type Permission,
  type RateLimit,
  type Share,
  type SharedView,
  type TelemetryEvent,
  type UsageAnswer,
  type WhoAmI,
} from './api/contract.ts';
export { type Telemetry, TelemetryError, type TelemetryPolicy, type TelemetryStats } from './telemetry/telemetry.ts';
export { type InspectableConnector, type Inspector, type InspectorOptions, startInspector } from './inspector-page/server.ts';
export { createLogger, type Logger, REDACT_PATHS, silentLogger } from './log/logger.ts';
export { wsSocketAdapter } from './adapters/ws-socket.ts';
export type { SocketAdapter, SocketConnection, SocketHandlers } from './adapters/socket.ts';
export { HttpError, type HttpAdapter, type HttpRequest, type HttpResponse } from './adapters/http.ts';
export { fetchHttpAdapter } from './adapters/fetch-http.ts';
export { BackoffPolicy } from './machines/backoff.ts';
export { RestartPolicy, supervisorMachine } from './machines/supervisor.ts';
export { connectionMachine, type ConnectionStateName } from './machines/connection.ts';
export { heartbeatMachine } from './machines/heartbeat.ts';
export * from './protocol/index.ts';
export { createFileStorage, defaultStateDir } from './adapters/file-storage.ts';
export { createMemoryStorage, type StorageAdapter, StorageError } from './adapters/storage.ts';
export { createSecretStore, type SecretStore } from './storage/secret-store.ts';
export { parseStateKey } from './storage/sealed.ts';
export { type DeviceIdentity, resolveDeviceIdentity } from './storage/device-identity.ts';
export { AuthFetchError, authMachine, defaultAuthPolicy, type AuthPolicy, type TokenGrant, type UserInfo } from './machines/auth.ts';
export { InspectionStream, type InspectedActor, type InspectionRecord } from './inspection-events/stream.ts';
export { createRedactor, type RedactOptions } from './inspection-events/redact.ts';
export { createStatelyInspector, type StatelyInspector, type StatelyInspectorOptions } from './inspection-events/stately.ts';
export { MissingPackageError } from './util/optional-package.ts';
export {
  DEFAULT_IGNORED,
  replayParsed,
  replaySession,
  type ReplayDivergence,
  type ReplayOptions,
  type ReplayResult,
} from './replay/replay.ts';
export {
  parseSession,
  SESSION_VERSION,
  SessionFileError,
  type SessionEntry,
  type SessionFile,
  type SessionHeader,
} from './recording/format.ts';
export type { RecordOptions } from './recording/recorder.ts';
export { formatTimeline } from './recording/timeline.ts';
export { ReplayClock } from './replay/replay-adapters.ts';
