import type { FrameError, MessageOf } from '../../protocol/index.ts';

/** One open device session, as `devices()`, `/v1/devices` and hub events report it. */
export interface SessionInfo {
  device_id: string;
  tenant_id: string;
  /** The user a hub-issued user token speaks for; absent for device tokens and static credentials. Settings follow it. */
  user_id?: string;
  /** Random id announced in `connect_ack`; a reconnect gets a new one. */
  session_id: string;
  /** When the hub accepted the session, milliseconds since the Unix epoch (hub clock). */
  connected_since: number;
  /** What the connector said it runs (`connect.runtime`): version, job types, tools, playbooks, channels. */
  runtime?: MessageOf<'connect'>['runtime'];
}

/** Device messages the hub hands to its listeners (connect and heartbeat it answers itself). */
export type DeviceMessage = MessageOf<'execution_event' | 'usage_report' | 'messaging_reply' | 'error'>;

/** Hub events and their listener arguments. */
export interface HubEvents {
  /** A device was authenticated and sent `connect_ack`. */
  session_open: [session: SessionInfo];
  /** An open session ended: `code` is the one the hub sent, else the device's (1006 for a drop). */
  session_close: [session: SessionInfo, code: number, reason: string];
  /** A valid message from a device. */
  message: [session: SessionInfo, message: DeviceMessage];
  /** A message a device sent on a channel it joined (task events, extension registrations). */
  channel_message: [session: SessionInfo, message: MessageOf<'channel_message'>];
  /** A frame was refused; `session` is null before the handshake completed. */
  frame_error: [session: SessionInfo | null, error: FrameError];
}
