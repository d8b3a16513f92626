export { CONNECT_PATH, createHub, type DispatchMessage, Hub, type HubAddress, type HubFaults, type HubListenOptions } from './hub.ts';
export { HubError, type HubErrorCode } from './errors.ts';
export type { DeviceMessage, HubEvents, SessionInfo } from './events.ts';
export type { Authenticate, HubClock, HubOptions } from './options.ts';
