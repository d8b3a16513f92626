import type { Message } from '../protocol/messages.ts';
import type { AuthEvent } from './auth-types.ts';
import type { ChannelEvent } from './channel.ts';
import type { HeartbeatEvent } from './heartbeat.ts';
import type { SettingsSyncEvent } from './settings-sync.ts';
import { channelId } from './supervisor-support.ts';

/**
 * Where one inbound frame goes once the connection machine has it: the event for each child
 * that must see it, and whether the host (and the data plane behind it) is told. Data frames
 * that a linked session took straight from the socket (src/actors/socket-port.ts) never come
 * here; the data plane routes those itself.
 */
export interface FrameRoute {
  /** Every frame is a sign of life; a `heartbeat_ack` also ends the round trip it answers. */
  heartbeat: Extract<HeartbeatEvent, { type: 'activity' }>;
  /** The hub's answer to an in-band `auth_refresh`. */
  auth?: Extract<AuthEvent, { type: 'token.accepted' | 'token.rejected' }>;
  /** A channel frame, for the actor of its channel (`id`). */
  channel?: { id: string; event: Extract<ChannelEvent, { type: 'frame' }> };
  /** A settings frame, for the settings-sync child. */
  settings?: Extract<SettingsSyncEvent, { type: 'frame' }>;
  /** Emitted to the host as `message`: all but liveness and re-authentication replies. */
  host: boolean;
}

/** Which child, actor and listener an inbound frame goes to. Pure: the supervisor does the sending. */
export function routeFrame(message: Message): FrameRoute {
  const auth = authReplyOf(message);
  const route: FrameRoute = {
    heartbeat: { type: 'activity', ...(message.type === 'heartbeat_ack' && { ackSeq: message.seq }) },
    ...(auth && { auth }),
    host: message.type !== 'heartbeat_ack' && auth === undefined,
  };
  switch (message.type) {
    case 'channel_joined':
    case 'channel_refused':
    case 'channel_left':
    case 'channel_message':
      return { ...route, channel: { id: channelId(message.channel), event: { type: 'frame', message } } };
    case 'settings_subscribed':
    case 'settings_patch':
      return { ...route, settings: { type: 'frame', message } };
    default:
      return route;
  }
}

/** What a frame tells the auth machine: the hub's answer to an in-band `auth_refresh`, if it is one. */
export function authReplyOf(message: Message): Extract<AuthEvent, { type: 'token.accepted' | 'token.rejected' }> | undefined {
  if (message.type === 'auth_refresh_ack') return { type: 'token.accepted' };
  if (message.type === 'error' && message.ref_id?.startsWith('auth_refresh:')) return { type: 'token.rejected' };
  return undefined;
}
