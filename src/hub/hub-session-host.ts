import type { Logger } from '../log/logger.ts';
import type { Codec } from '../protocol/index.ts';
import type { HubAuth } from './auth/auth.ts';
import type { HubChannels } from './channels/channels.ts';
import type { HubEvents } from './core/events.ts';
import type { ResolvedHubOptions } from './core/options.ts';
import type { CapabilityReloads } from './delivery/capability-reloads.ts';
import type { HubDelivery } from './delivery/delivery.ts';
import type { OpenSessions } from './session/open-sessions.ts';
import type { SessionHost } from './session/session-host.ts';
import type { SettingsSessions } from './settings/settings-sessions.ts';

/** The hub's parts a session reaches through its {@link SessionHost}. */
export interface SessionHostParts {
  options: ResolvedHubOptions;
  codec: Codec;
  logger: Logger;
  isSilenced: SessionHost['isSilenced'];
  auth: HubAuth;
  sessions: OpenSessions;
  delivery: HubDelivery;
  channels: HubChannels;
  reloads: CapabilityReloads;
  settings: SettingsSessions;
  emit<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): void;
}

/**
 * What sessions see of the hub: credentials and revocation from auth, registration in the open
 * sessions, and the routing of an open session's frames: channel frames to the channels, reload
 * results to the reloads, settings frames to the settings, everything else to reliable delivery.
 */
export function createSessionHost(parts: SessionHostParts): SessionHost {
  const { auth, sessions, delivery, channels, reloads, settings } = parts;
  return {
    options: parts.options,
    codec: parts.codec,
    logger: parts.logger,
    isSilenced: parts.isSilenced,
    checkCredential: (token, who, address) => auth.checkCredential(token, who, address),
    verifyToken: (token, who) => auth.verifyToken(token, who),
    isRevoked: (who, jti) => auth.isRevoked(who.tenant_id, who.device_id, jti),
    register: (session, info) => {
      sessions.register(session, info);
      return delivery.claim(info);
    },
    forget: (session) => {
      sessions.forget(session);
      if (session.info) delivery.release(session.info);
      channels.drop(session);
      settings.drop(session);
    },
    emit: parts.emit,
    resume: (who, connect) => delivery.resume(who, connect),
    opened: (session, info) => delivery.opened(session, info),
    receive: (session, info, message) => {
      if (message.type === 'channel_join' || message.type === 'channel_leave' || message.type === 'channel_message') {
        return channels.receive(session, info, message);
      }
      if (message.type === 'capability_reload_result') return reloads.settle(message, info);
      if (message.type === 'settings_subscribe' || message.type === 'settings_reported') return settings.receive(session, info, message);
      delivery.receive(session, info, message);
    },
  };
}
