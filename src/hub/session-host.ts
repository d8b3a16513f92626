import type { Logger } from '../log/logger.ts';
import type { Codec } from '../protocol/index.ts';
import type { HubAuth } from './auth.ts';
import type { CapabilityReloads } from './capability-reloads.ts';
import type { HubChannels } from './channels.ts';
import type { HubDelivery } from './delivery.ts';
import type { HubEvents } from './events.ts';
import type { OpenSessions } from './open-sessions.ts';
import type { ResolvedHubOptions } from './options.ts';
import type { SessionHost } from './session.ts';

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
  emit<K extends keyof HubEvents>(event: K, ...args: HubEvents[K]): void;
}

/**
 * What sessions see of the hub: credentials and revocation from auth, registration in the open
 * sessions, and the routing of an open session's frames: channel frames to the channels, reload
 * results to the reloads, everything else to reliable delivery.
 */
export function createSessionHost(parts: SessionHostParts): SessionHost {
  const { auth, sessions, delivery, channels, reloads } = parts;
  return {
    options: parts.options,
    codec: parts.codec,
    logger: parts.logger,
    isSilenced: parts.isSilenced,
    checkCredential: auth.checkCredential,
    verifyToken: (token, who) => auth.verifyToken(token, who),
    isRevoked: (who, jti) => auth.isRevoked(who.tenant_id, who.device_id, jti),
    register: (session, info) => sessions.register(session, info),
    forget: (session) => {
      sessions.forget(session);
      channels.drop(session);
    },
    emit: parts.emit,
    resume: (who, connect) => delivery.resume(who, connect),
    opened: (session, info) => delivery.opened(session, info),
    receive: (session, info, message) => {
      if (message.type === 'channel_join' || message.type === 'channel_leave' || message.type === 'channel_message') {
        return channels.receive(session, info, message);
      }
      if (message.type === 'capability_reload_result') return reloads.settle(message, info);
      delivery.receive(session, info, message);
    },
  };
}
