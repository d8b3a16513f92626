import type { Logger } from '../../log/logger.ts';
import type { Codec, MessageOf } from '../../protocol/index.ts';
import type { ThrottledVerdict } from '../auth/credential-check.ts';
import type { HubTokenClaims } from '../auth/token-authority.ts';
import type { HubEvents, SessionInfo } from '../core/events.ts';
import type { ResolvedHubOptions } from '../core/options.ts';
import type { Session } from './session.ts';

type Who = { device_id: string; tenant_id: string };

/** Frames of an open session that the hub's delivery, channels, reloads and settings take. */
export type DeviceFrame = MessageOf<
  | 'execution_event'
  | 'usage_report'
  | 'messaging_reply'
  | 'ack'
  | 'nack'
  | 'capacity'
  | 'error'
  | 'channel_join'
  | 'channel_leave'
  | 'channel_message'
  | 'capability_reload_result'
  | 'settings_subscribe'
  | 'settings_reported'
>;

/** What a session needs from its hub. The hub implements it; sessions never see each other. */
export interface SessionHost {
  readonly options: ResolvedHubOptions;
  readonly codec: Codec;
  readonly logger: Logger;
  /** Whether the hub plays dead towards this device (`faults.silence`); `undefined` before `connect`. */
  isSilenced(deviceId: string | undefined): boolean;
  /**
   * Registers a newly authenticated session, closing an older one of the same device. A promise
   * when the hub must first claim the device from other nodes (docs/scaling.md): the session is
   * acknowledged once it resolves, and closed when it rejects.
   */
  register(session: Session, info: SessionInfo): void | Promise<void>;
  /** Forgets a closed session. */
  forget(session: Session): void;
  /**
   * Decides a `connect` credential from `address` (throttled after failed attempts). Rejects
   * only when `authenticate` throws.
   */
  checkCredential(token: string, who: Who, address: string): Promise<ThrottledVerdict>;
  /** Verifies a hub-issued token for `auth_refresh`; rejects with a {@link TokenError}. */
  verifyToken(token: string, who: Who): Promise<HubTokenClaims>;
  /** Whether the device, or the token `jti`, is revoked now. */
  isRevoked(who: Who, jti: string | undefined): boolean;
  /** Emits a hub event; listener errors are the host's to contain. */
  emit<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): void;
  /** Answers `connect.resume` for `connect_ack` (reliable delivery, src/hub/delivery/delivery.ts). */
  resume(who: Who, connect: MessageOf<'connect'>): MessageOf<'connect_ack'>['resume'];
  /** The session is acknowledged: resend and send what waits for the device. */
  opened(session: Session, info: SessionInfo): void;
  /** A device message past the handshake: delivery, executions, the ledger, and the `message` event. */
  receive(session: Session, info: SessionInfo, message: DeviceFrame): void;
}
