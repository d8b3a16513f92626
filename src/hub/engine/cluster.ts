import type { MessageOf } from '../../protocol/index.ts';
import type { QueuedMessage, ReliableDeviceMessage } from '../delivery/device-queue.ts';
import type { ExecutionEventRecord, ExecutionSnapshot } from '../delivery/executions.ts';
import type { PublishedMessage } from '../channels/channel-history.ts';
import type { SettingsPatch } from '../../protocol/settings-document.ts';
import type { DocumentKey, StoredDocumentValue } from '../settings/settings-documents.ts';
import type { UsageEntry } from '../usage/usage-store.ts';

type Who = { tenant_id: string; device_id: string };

/** Who held a device before a claim: a node and its session of the device. */
export interface Holder {
  node: string;
  session: string;
}

/** What a claim found and took: the previous holder, and the device's waiting cancels taken from other nodes. */
export interface Claimed {
  previous: Holder | undefined;
  /** Cancels other nodes queued for the device: the holder applies them (withdraws, or sends them). */
  cancels: QueuedMessage[];
}

/** What {@link HubCluster.pull} moved into the holder's queue, and the cancels it took. */
export interface Pulled {
  requests: QueuedMessage[];
  cancels: QueuedMessage[];
}

/**
 * A note from one hub node to another (`to` a node) or to every node, through the engine's broker.
 * Notes are hints and copies: losing one never loses work (the waiting work is in the store, and
 * the holder reads it again on its presence renewal).
 */
export type ClusterNote =
  /** Another node took the device: close this node's session `session` of it (4003 `replaced`). */
  | { t: 'takeover'; who: Who; session: string }
  /**
   * Work for the device waits in the store: the holder pulls it. `entries` (id and stored entry,
   * as the engine keeps them) are the work itself, when small: the holder takes them without
   * reading the store back; the store still holds them, read on the holder's presence renewal.
   */
  | { t: 'poke'; who: Who; entries?: Array<[string, string]> }
  /** An event of an execution dispatched on the node it is sent to, from the node that holds the device. */
  | { t: 'event'; who: Who; request_id: string; event: ExecutionEventRecord }
  /** An execution dispatched on the node it is sent to ended at the holder without reaching the device (withdrawn, or expired). */
  | { t: 'ended'; who: Who; request_id: string; status: 'undelivered' | 'cancelled'; data: Record<string, unknown> }
  /** The device's reply to a messaging event queued on the node it is sent to (or `undelivered`: it expired, never sent). */
  | { t: 'reply'; who: Who; request_id: string; result: MessageOf<'messaging_reply'>['result'] | { status: 'undelivered'; reason: string } }
  /** A device (in a tenant, or in every tenant) was revoked on another node. */
  | { t: 'revoke_device'; device_id: string; tenant_id?: string }
  /** A device revocation was lifted on another node. */
  | { t: 'unrevoke_device'; device_id: string; tenant_id?: string }
  /** A token id was revoked on another node. */
  | { t: 'revoke_token'; jti: string }
  /** A settings document changed on another node: stored already; its subscribers here are pushed the change. */
  | { t: 'settings'; tenant_id: string; key: DocumentKey; document: StoredDocumentValue; changes: SettingsPatch }
  /**
   * A channel message kept in the history, for the members on every node (the publishing one
   * too): sent by the history's append itself, so each node hears a channel's messages in offset
   * order (src/hub/engine/redis/redis-channel-history.ts).
   */
  | ({ t: 'publish' } & PublishedMessage)
  /** A task channel opened or closed on another node. */
  | { t: 'task'; tenant_id: string; task_id: string; open: boolean; workspace_id?: string }
  /** A capability reload for a device this node holds, asked on node `from`, where the answer goes. */
  | { t: 'reload'; who: Who; reload_id: string; packs: string[]; from: string }
  /** A usage report booked in the store by another node: this node's summaries count it too. */
  | { t: 'usage'; entry: UsageEntry }
  /** An API key was made, rotated or revoked on another node: read it again (stored already). */
  | { t: 'api_key'; id: string }
  /** Another node made a signing key (the first, or a rotation): the engine reads the keys again. */
  | { t: 'keys' }
  /** The answer to a capability reload asked here. */
  | { t: 'reload_result'; reload_id: string; result: { ok: boolean; error?: string } };

/**
 * Several hub nodes on one store serving one fleet (docs/scaling.md, "Several nodes"): which node
 * holds which device's session (presence, with a fence), the waiting work of devices held
 * elsewhere, and notes between the nodes (a broker). The Redis engine has one; the memory engine
 * none, and a hub without one is a single node, as it always was.
 *
 * @example
 * const { previous } = await cluster.claim(who, session.id); // the device's queue is now this node's
 * if (previous && previous.node !== cluster.nodeId) cluster.send(previous.node, { t: 'takeover', who, session: previous.session });
 */
export interface HubCluster {
  readonly nodeId: string;
  /**
   * Makes this node the holder of the device for `sessionId`: the presence entry names it, the
   * device's fence moves on (a write of the previous holder is refused from then on, see
   * {@link StaleHolderError}), and its queue is read from the store into `deviceQueues`.
   */
  claim(who: Who, sessionId: string): Promise<Claimed>;
  /** The session ended: once its writes are stored, the presence entry goes (if still its) and the queue is dropped here. */
  release(who: Who, sessionId: string): Promise<void>;
  /** Whether this node holds the device now (claimed, for a session still open). */
  holds(who: Who): boolean;
  /**
   * Queues work for a device this node does not hold, in one atomic step of the store (refused
   * past `limit` messages), and pokes its holder. Resolves false when the device's queue is full.
   */
  append(who: Who, message: ReliableDeviceMessage, now: number, limit: number): Promise<boolean>;
  /** Moves the work other nodes queued into the held queue (in the store and here). */
  pull(who: Who): Promise<Pulled>;
  /** Sends a note to one node. */
  send(node: string, note: ClusterNote): void;
  /** Sends a note to every other node. */
  broadcast(note: ClusterNote): void;
  /** Where notes to this node go; and where it learns that it lost a device (a renewal or a write refused). */
  listen(handlers: { note(note: ClusterNote): void; lost(who: Who): void }): void;
  /**
   * Who dispatched a request (its origin node), when a node recorded it; for events of requests
   * this node did not queue. With `eventId`, also whether the execution's copy has that event
   * already (recorded by a node that died before acknowledging it to the device).
   */
  originOf(requestId: string, eventId?: string): Promise<{ who: Who; node: string; job_type: string; recorded: boolean } | undefined>;
  /** Records who dispatched a request, so the node holding its device later can send its events there. */
  dispatched(requestId: string, who: Who, jobType: string, now: number): void;
  /**
   * Whether a device's message `id` is news to every node: true the first time any node asks
   * (within a day). For messages a node must not apply twice when the device resends them to
   * another node after the first died before acknowledging them (messaging replies).
   */
  firstSeen(who: Who, id: string): Promise<boolean>;
  /** Which node holds a device now, if any (its presence entry). */
  holderOf(who: Who): Promise<Holder | undefined>;
  /** Keeps the copy of an execution any node answers from: its status, outcome, and the event just recorded. */
  recorded(snapshot: ExecutionSnapshot, event: ExecutionEventRecord | undefined): void;
  /** The copy of an execution in the store, if one was kept (for the executions' retention). */
  snapshotOf(requestId: string): Promise<ExecutionSnapshot | undefined>;
}
