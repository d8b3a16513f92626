import type { Logger } from '../log/logger.ts';
import { CloseCode } from '../protocol/index.ts';
import type { HubAuth } from './auth/auth.ts';
import type { HubDelivery } from './delivery/delivery.ts';
import type { ClusterNote } from './engine/cluster.ts';
import type { OpenSessions } from './session/open-sessions.ts';

type Who = { tenant_id: string; device_id: string };

/** The parts of a hub that notes from other nodes reach. */
export interface ClusterNoteParts {
  sessions: OpenSessions;
  delivery: HubDelivery;
  auth: HubAuth;
  logger: Logger;
}

/**
 * What a hub node does with the notes of the other nodes on its store (docs/scaling.md, "Several
 * nodes"), and when it learns it lost a device: a session another node took over closes with
 * `4003 replaced`, as it would on one node; work, events and replies go to delivery; revocations
 * made on another node are applied here too, closing this node's sessions they concern.
 *
 * @example
 * engine.cluster?.listen(clusterNotes({ sessions, delivery, auth, logger }));
 */
export function clusterNotes(parts: ClusterNoteParts): { note(note: ClusterNote): void; lost(who: Who): void } {
  const { sessions, delivery, auth, logger } = parts;
  const replace = (who: Who, sessionId: string | undefined) => {
    const open = sessions.get(who.tenant_id, who.device_id)?.session;
    if (!open || (sessionId !== undefined && open.info?.session_id !== sessionId)) return;
    logger.info({ ...who, session_id: open.info?.session_id }, 'the device connected to another hub node; session replaced');
    open.close(CloseCode.replaced, 'replaced');
  };
  return {
    note: (note) => {
      switch (note.t) {
        case 'takeover':
          return replace(note.who, note.session);
        case 'poke':
        case 'event':
        case 'reply':
          return delivery.note(note);
        case 'revoke_device':
          auth.revokeDevice(note.device_id, note.tenant_id);
          return;
        case 'unrevoke_device':
          return auth.unrevokeDevice(note.device_id, note.tenant_id);
        case 'revoke_token':
          auth.revokeToken(note.jti);
          return;
      }
    },
    lost: (who) => replace(who, undefined),
  };
}
