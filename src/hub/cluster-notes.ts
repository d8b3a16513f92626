import type { Logger } from '../log/logger.ts';
import type { ApiKeyStore } from './api/api-keys.ts';
import type { UsageStore } from './usage/usage-store.ts';
import { CloseCode } from '../protocol/index.ts';
import type { HubAuth } from './auth/auth.ts';
import type { HubChannels } from './channels/channels.ts';
import type { CapabilityReloads } from './delivery/capability-reloads.ts';
import type { HubDelivery } from './delivery/delivery.ts';
import { dispatch } from './delivery/dispatch.ts';
import type { ClusterNote, HubCluster } from './engine/cluster.ts';
import type { OpenSessions } from './session/open-sessions.ts';
import type { SettingsSessions } from './settings/settings-sessions.ts';

type Who = { tenant_id: string; device_id: string };

/** The parts of a hub that notes from other nodes reach. */
export interface ClusterNoteParts {
  sessions: OpenSessions;
  delivery: HubDelivery;
  auth: HubAuth;
  channels: HubChannels;
  reloads: CapabilityReloads;
  settings: SettingsSessions;
  /** The REST API's keys: one made, rotated or revoked on another node is read again. */
  apiKeys: Pick<ApiKeyStore, 'refresh'>;
  /** The usage ledger, once open: entries other nodes booked join its summaries. */
  usage(): UsageStore | undefined;
  /** Where answers go back to. */
  cluster: HubCluster;
  logger: Logger;
}

/**
 * What a hub node does with the notes of the other nodes on its store (docs/scaling.md, "Several
 * nodes"), and when it learns it lost a device: a session another node took over closes with
 * `4003 replaced`, as it would on one node; work, events and replies go to delivery; revocations
 * made on another node are applied here too, closing this node's sessions they concern; settings
 * changes, channel messages and task channels reach the devices held here; a capability reload
 * asked on another node is sent from here and its answer relayed back.
 *
 * @example
 * engine.cluster?.listen(clusterNotes({ sessions, delivery, auth, logger }));
 */
export function clusterNotes(parts: ClusterNoteParts): { note(note: ClusterNote): void; lost(who: Who): void } {
  const { sessions, delivery, auth, channels, reloads, settings, logger } = parts;
  const replace = (who: Who, sessionId: string | undefined) => {
    const open = sessions.get(who.tenant_id, who.device_id)?.session;
    if (!open || (sessionId !== undefined && open.info?.session_id !== sessionId)) return;
    logger.info({ ...who, session_id: open.info?.session_id }, 'the device connected to another hub node; session replaced');
    open.close(CloseCode.replaced, 'replaced');
  };
  const relayReload = (note: Extract<ClusterNote, { t: 'reload' }>) => {
    const { who, packs, reload_id, from } = note;
    const send = (reloadId: string) =>
      dispatch(sessions, who.device_id, { type: 'capability_reload', reload_id: reloadId, packs }, who.tenant_id).to;
    const answer = (result: { ok: boolean; error?: string }) => parts.cluster.send(from, { t: 'reload_result', reload_id, result });
    try {
      void reloads.request(send, reload_id).then(answer);
    } catch (error) {
      // Gone from this node meanwhile: the asking node is told at once rather than after its timeout.
      answer({ ok: false, error: error instanceof Error ? error.message : 'not connected' });
    }
  };
  return {
    note: (note) => {
      switch (note.t) {
        case 'takeover':
          return replace(note.who, note.session);
        case 'poke':
        case 'event':
        case 'ended':
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
        case 'settings':
          return settings.adopt(note.tenant_id, note.key, note.document, note.changes);
        case 'publish':
          channels.published(note);
          return;
        case 'task':
          if (note.open) return channels.openTask(note.tenant_id, note.task_id, note.workspace_id);
          return channels.closeTask(note.tenant_id, note.task_id);
        case 'reload':
          return relayReload(note);
        case 'usage':
          return parts.usage()?.adopt?.(note.entry);
        case 'api_key':
          parts.apiKeys
            .refresh(note.id)
            .catch((error: unknown) => logger.warn({ err: error, api_key_id: note.id }, 'cannot read an API key again'));
          return;
        case 'keys':
          // The engine's own: its signing keys read again (redis-cluster.ts).
          return;
        case 'reload_result':
          return reloads.answer(note.reload_id, note.result);
      }
    },
    lost: (who) => replace(who, undefined),
  };
}
