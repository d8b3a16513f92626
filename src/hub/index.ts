export { CONNECT_PATH, createHub, type DispatchMessage, Hub, type HubAddress, type HubFaults, type HubListenOptions } from './hub.ts';
export { HubError, type HubErrorCode, TokenError, type TokenErrorCode } from './errors.ts';
export type { DeviceMessage, HubEvents, SessionInfo } from './events.ts';
export type { Authenticate, DeviceCredential, HubClock, HubOptions, HubTokenOptions } from './options.ts';
export {
  createTokenAuthority,
  type DeviceTokenClaims,
  type IssuedToken,
  type SigningKeyPair,
  TOKEN_ALG,
  TokenAuthority,
  type TokenAuthorityOptions,
} from './token-authority.ts';
export { DEVICE_TOKEN_PATH, JWKS_PATH, type TokenEndpointBehaviour } from './token-endpoint.ts';
