import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../log/logger.ts';
import { CloseCode, type Codec, type MessageOf } from '../../protocol/index.ts';
import { getOrCreate } from '../../util/get-or-create.ts';
import { HubError } from '../core/errors.ts';
import type { SessionInfo } from '../core/events.ts';
import type { HubClock } from '../core/options.ts';
import { RecentIds } from '../delivery/recent-ids.ts';
import type { Session } from '../session/session.ts';
import type { DedupeJournal } from './dedupe-journal.ts';
import type { ChannelHistory, PublishedMessage, StoredChannel } from './channel-history.ts';

type Who = { device_id: string; tenant_id: string };

export interface ChannelOptions {
  /** Messages kept per channel for rejoins to recover. */
  replayWindow: number;
  /** …and for at most this long. */
  replayMaxAgeMs: number;
  /** An extension instance not heard from for this long is dropped from `instances()`. */
  instanceTtlMs: number;
  /**
   * Ids of reliable channel messages (`channel_message.seq`) remembered per device to drop
   * resends: at least the device's cap on unacknowledged messages (1 000 by default).
   */
  dedupeWindow: number;
  /** A device's remembered ids go after this long without a reliable message from it (the device's TTL). */
  dedupeTtlMs: number;
}

export const defaultChannelOptions: ChannelOptions = {
  replayWindow: 1_000,
  replayMaxAgeMs: 600_000,
  instanceTtlMs: 60_000,
  dedupeWindow: 1_000,
  dedupeTtlMs: 3_600_000,
};

/** What an extension instance registers on the `extension` channel (and repeats as its heartbeat). */
export const InstanceRegistration = z.object({
  instance_id: z.string().min(1).max(256),
  app: z.object({ name: z.string().max(128), version: z.string().max(64) }),
  platform: z.string().max(64),
  workspace_id: z.string().max(256).optional(),
  task_state: z.record(z.string(), z.unknown()).optional(),
});
export type InstanceRegistration = z.infer<typeof InstanceRegistration>;

/** An extension instance as the hub lists it. */
export interface ExtensionInstance extends InstanceRegistration {
  device_id: string;
  registered_at: number;
  last_seen: number;
}

interface Channel {
  epoch: string;
  offset: number;
  log: Array<{ offset: number; event: string; payload: Record<string, unknown>; at: number }>;
  /** The sessions joined, each with the last offset it was sent (a message at or below it is not sent again). */
  members: Map<Session, number>;
  /** Announcements heard while the members are sent what a gap before them held (from the history), in order. */
  filling?: PublishedMessage[];
}

export interface HubChannelsOptions {
  /** The dedupe window and its TTL default to {@link defaultChannelOptions}'s. */
  channels: Omit<ChannelOptions, 'dedupeWindow' | 'dedupeTtlMs'> & Partial<ChannelOptions>;
  /** The hub's codec: published messages are checked with it before they are kept. */
  codec: Codec;
  clock: HubClock;
  logger: Logger;
  /** Every message a device sends on a channel it joined: the relay to the cloud side. */
  onMessage: (info: SessionInfo, message: MessageOf<'channel_message'>) => void;
  /** Where the dedupe windows are kept beyond this process (the hub engine's); without one, in memory only. */
  dedupe?: DedupeJournal | undefined;
  /** Where offsets and replay windows are kept beyond this process (the hub engine's); without one, in memory only. */
  history?: ChannelHistory | undefined;
}

const keyOf = (tenant: string, channel: string) => `${tenant}\u0000${channel}`;
const newEpoch = () => `ch_${randomUUID()}`;

/**
 * The hub's channels: membership per session, join authorisation by tenant (and workspace),
 * per-channel offsets with a bounded replay window for rejoins, relay from the cloud side
 * (`publish`) to the devices that joined, and the extension channel's instance registry.
 *
 * Channels: `extension` exists in every tenant; `task:<id>` exists once the cloud side opened the
 * task (`openTask`) in one tenant, optionally scoped to a workspace.
 */
export class HubChannels {
  readonly #channels = new Map<string, Channel>();
  readonly #tasks = new Map<string, { tenant_id: string; workspace_id?: string }>();
  readonly #instances = new Map<string, Map<string, ExtensionInstance>>();
  /** Channel keys each session joined, so a closing session leaves them without a scan of all channels. */
  readonly #joined = new Map<Session, Set<string>>();
  /** Reliable message ids taken per device (tenant and device id), and when it last sent one. */
  readonly #taken = new Map<string, { ids: RecentIds; lastAt: number }>();
  #lastSweep = 0;
  readonly #codec: Codec;
  readonly #options: ChannelOptions;
  readonly #clock: HubClock;
  readonly #log: Logger;
  readonly #onMessage: (info: SessionInfo, message: MessageOf<'channel_message'>) => void;
  readonly #dedupe: DedupeJournal | undefined;
  readonly #history: ChannelHistory | undefined;
  /** Sessions closed: a join that was reading its dedupe window when they closed is dropped. */
  readonly #dropped = new WeakSet<Session>();

  constructor(options: HubChannelsOptions) {
    this.#options = { ...defaultChannelOptions, ...options.channels };
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#onMessage = options.onMessage;
    this.#codec = options.codec;
    this.#dedupe = options.dedupe;
    this.#history = options.history;
  }

  /** Takes back the channels the history kept (a hub that starts, `listen()`); nothing without one. */
  async restore(): Promise<void> {
    for (const stored of (await this.#history?.restore()) ?? []) this.#adopt(stored);
  }

  /** Opens a task channel in a tenant (and workspace). Idempotent for the same tenant. */
  openTask(tenantId: string, taskId: string, workspaceId?: string): void {
    const existing = this.#tasks.get(taskId);
    if (existing && existing.tenant_id !== tenantId) throw new HubError('invalid_message', `task '${taskId}' belongs to another tenant`);
    this.#tasks.set(taskId, { tenant_id: tenantId, ...(workspaceId !== undefined && { workspace_id: workspaceId }) });
  }

  /** The tenant that opened a task, while it is open. */
  taskTenant(taskId: string): string | undefined {
    return this.#tasks.get(taskId)?.tenant_id;
  }

  /**
   * Sends a message to every device that joined the channel, and keeps it for rejoins. Resolves
   * with its offset. With a history (the Redis engine) the history takes the offset, so several
   * nodes may publish to one channel at once; the message reaches the members, on every node,
   * when the history announces it (see {@link HubChannels.published}); it resolves once kept,
   * and rejects when the history refused it (then it reached no one).
   *
   * @throws {HubError} `invalid_message` when it would not encode (a bad channel name, too large):
   *   checked before it takes an offset, so a bad message never reaches the replay window.
   */
  publish(tenantId: string, channel: string, event: string, payload: Record<string, unknown>): Promise<number> {
    const encoded = this.#codec.encode({ type: 'channel_message', channel, event, payload, offset: Number.MAX_SAFE_INTEGER });
    if (!encoded.ok) throw new HubError('invalid_message', encoded.error.message, { cause: encoded.error });
    const state = this.#channel(tenantId, channel);
    const now = this.#clock.now();
    const history = this.#history;
    if (history) {
      const ref = { key: keyOf(tenantId, channel), tenant_id: tenantId, channel };
      return history
        .append(ref, { epoch: state.epoch, offset: state.offset }, { event, payload, at: now }, this.#options.replayWindow)
        .then(({ offset }) => offset);
    }
    const offset = ++state.offset;
    this.#add(state, { offset, event, payload, at: now }, now);
    this.#send(state, channel, event, payload, offset);
    return Promise.resolve(offset);
  }

  /**
   * A message the history kept (on this node or another), under the offset it took there: sent
   * to the devices that joined on this node and kept in this node's replay window. The history
   * announces a channel's messages in offset order, so every node numbers and orders them alike.
   */
  published(message: PublishedMessage): void {
    this.#announced(message, true);
  }

  #announced(message: PublishedMessage, fill: boolean): void {
    const { tenant_id, channel, event, payload, offset, epoch } = message;
    const state = this.#channel(tenant_id, channel);
    if (state.filling) {
      state.filling.push(message);
      return;
    }
    // Announcements this node did not hear (its broker connection dropped): its members get them from the history first.
    if (fill && this.#history && state.members.size > 0 && epoch === state.epoch && offset > state.offset + 1) {
      return this.#fill(state, message);
    }
    const now = this.#clock.now();
    if (offset > state.offset) {
      const entry = { offset, event, payload, at: message.at };
      // A new epoch (the history was lost), or a gap not filled: what this node kept before is
      // not followed by this one, so it is not replayed.
      if (epoch !== state.epoch || offset !== state.offset + 1) state.log = [];
      state.epoch = epoch;
      state.offset = offset;
      this.#add(state, entry, now);
    }
    // At or below the offset known here: a join read the history before this note came, and its
    // replay had it; members joined earlier still get it, once.
    this.#send(state, channel, event, payload, offset);
  }

  /**
   * Reads the history for a gap before `message`, sends the members what they missed in offset
   * order (what the replay window still holds), then what was announced meanwhile. When the
   * history cannot be read, the members go on from `message` (they miss the gap).
   */
  #fill(state: Channel, message: PublishedMessage): void {
    const { tenant_id, channel } = message;
    state.filling = [message];
    const key = keyOf(tenant_id, channel);
    this.#history!.read(key, { epoch: state.epoch, offset: state.offset })
      .then(
        (stored) => {
          // Closed meanwhile (closeTask): nothing to send, and nothing to keep.
          if (this.#channels.get(key) !== state) return true;
          this.#adopt(stored);
          for (const entry of state.log) this.#send(state, channel, entry.event, entry.payload, entry.offset);
          return true;
        },
        (error: unknown) => {
          this.#log.warn({ err: error, tenant_id, channel }, 'cannot read the channel history for messages this node did not hear');
          return false;
        },
      )
      .then((filled) => {
        const waiting = state.filling ?? [];
        state.filling = undefined;
        for (const next of waiting) this.#announced(next, filled);
      })
      .catch((error: unknown) => this.#log.error({ err: error, tenant_id, channel }, 'cannot send channel messages'));
  }

  #add(state: Channel, entry: Channel['log'][number], now: number): void {
    state.log.push(entry);
    this.#trim(state, now);
  }

  /** Sends a message to the members that were not sent it yet. */
  #send(state: Channel, channel: string, event: string, payload: Record<string, unknown>, offset: number): void {
    for (const [session, sent] of state.members) {
      if (offset <= sent) continue;
      state.members.set(session, offset);
      session.send({ type: 'channel_message', channel, event, payload, offset });
    }
  }

  /** A channel frame from a device. */
  receive(session: Session, info: SessionInfo, message: MessageOf<'channel_join' | 'channel_leave' | 'channel_message'>): void {
    if (message.type === 'channel_join') return this.#join(session, info, message);
    if (message.type === 'channel_leave') {
      this.#channels.get(keyOf(info.tenant_id, message.channel))?.members.delete(session);
      this.#joined.get(session)?.delete(keyOf(info.tenant_id, message.channel));
      session.send({ type: 'channel_left', channel: message.channel });
      return;
    }
    const state = this.#channels.get(keyOf(info.tenant_id, message.channel));
    if (!state?.members.has(session)) {
      // Not acknowledged: a reliable message is sent again once the device has joined.
      session.send({ type: 'error', code: 'not_joined', message: `not joined to '${message.channel}'`, ref_id: message.id });
      return;
    }
    const { seq } = message;
    if (seq !== undefined && !this.#takeOnce(info, message.id)) {
      session.send({ type: 'channel_ack', channel: message.channel, seq });
      return;
    }
    if (message.channel === 'extension') this.#extension(info, message);
    this.#onMessage(info, message);
    if (seq === undefined) return;
    const ack = (): void => void session.send({ type: 'channel_ack', channel: message.channel, seq });
    const { dedupeWindow, dedupeTtlMs } = this.#options;
    const stored = this.#dedupe?.taken(keyOf(info.tenant_id, info.device_id), message.id, this.#clock.now(), dedupeWindow, dedupeTtlMs);
    // Acknowledged once its id is stored: a resend after a restart (or to another node) is then dropped.
    if (!stored) return ack();
    stored.then(ack, (error: unknown) => this.#storageFailed(session, info, error, 'cannot store a channel message id'));
  }

  /**
   * Whether a reliable message is new: its id is remembered per device (a bounded window), so a
   * resend of one already delivered is acknowledged and dropped. Devices quiet for
   * `dedupeTtlMs` are forgotten: the device no longer resends what is that old.
   */
  #takeOnce(info: Who, id: string): boolean {
    const now = this.#clock.now();
    const ttl = this.#options.dedupeTtlMs;
    if (now - this.#lastSweep >= ttl / 4) {
      this.#lastSweep = now;
      for (const [device, taken] of this.#taken) if (taken.lastAt <= now - ttl) this.#taken.delete(device);
    }
    const taken = this.#takenOf(keyOf(info.tenant_id, info.device_id), now);
    taken.lastAt = now;
    if (taken.ids.has(id)) return false;
    taken.ids.add(id);
    return true;
  }

  #takenOf(device: string, now: number): { ids: RecentIds; lastAt: number } {
    return getOrCreate(this.#taken, device, () => ({ ids: new RecentIds(this.#options.dedupeWindow), lastAt: now }));
  }

  /** The engine refused a read or a write: closed, so the device resends what was not acknowledged on its next session. */
  #storageFailed(session: Session, info: Who, error: unknown, what: string): void {
    this.#log.error({ err: error, device_id: info.device_id, tenant_id: info.tenant_id }, `${what}; closing the session`);
    session.close(CloseCode.internalError, 'storage_failed');
  }

  /** A session closed: it is a member of nothing any more. */
  drop(session: Session): void {
    this.#dropped.add(session);
    for (const key of this.#joined.get(session) ?? []) this.#channels.get(key)?.members.delete(session);
    this.#joined.delete(session);
  }

  /** Closes a task channel: devices can no longer join it, and its replay window goes. */
  closeTask(tenantId: string, taskId: string): void {
    if (this.#tasks.get(taskId)?.tenant_id !== tenantId) return;
    this.#tasks.delete(taskId);
    const key = keyOf(tenantId, `task:${taskId}`);
    for (const session of this.#channels.get(key)?.members.keys() ?? []) {
      this.#joined.get(session)?.delete(key);
      session.send({ type: 'channel_left', channel: `task:${taskId}` });
    }
    this.#channels.delete(key);
    this.#history
      ?.forget(key)
      .catch((error: unknown) => this.#log.error({ err: error, task_id: taskId }, 'cannot forget a channel history'));
  }

  /** The extension instances of a tenant heard from within the instance TTL. */
  instances(tenantId: string): ExtensionInstance[] {
    const byId = this.#instances.get(tenantId);
    if (!byId) return [];
    const cutoff = this.#clock.now() - this.#options.instanceTtlMs;
    for (const [id, instance] of byId) if (instance.last_seen <= cutoff) byId.delete(id);
    return [...byId.values()].map((instance) => structuredClone(instance));
  }

  /** Devices joined to a channel of a tenant. */
  members(tenantId: string, channel: string): string[] {
    return [...(this.#channels.get(keyOf(tenantId, channel))?.members.keys() ?? [])].map((session) => session.info?.device_id ?? '?');
  }

  /**
   * With a dedupe journal, the device's window is read back first (what it sent before a restart,
   * or through another node), then the join is answered; the device sends reliable messages only
   * on a channel it joined.
   */
  #join(session: Session, info: SessionInfo, message: MessageOf<'channel_join'>): void {
    const device = keyOf(info.tenant_id, info.device_id);
    const authorized = this.#authorize(info, message.channel, message.workspace_id) === undefined;
    const window = this.#dedupe?.load(device);
    const known = this.#channels.get(keyOf(info.tenant_id, message.channel));
    const history = authorized
      ? this.#history?.read(keyOf(info.tenant_id, message.channel), { epoch: known?.epoch ?? newEpoch(), offset: known?.offset ?? 0 })
      : undefined;
    if (!window && !history) return this.#admit(session, info, message);
    Promise.all([window, history]).then(
      ([ids, stored]) => {
        if (this.#dropped.has(session)) return;
        const { ids: taken } = this.#takenOf(device, this.#clock.now());
        for (const id of ids ?? []) taken.add(id);
        if (stored) this.#adopt(stored);
        this.#admit(session, info, message);
      },
      (error: unknown) => this.#storageFailed(session, info, error, 'cannot read the channel state'),
    );
  }

  /**
   * What the history kept replaces this process's copy. The history numbers the messages, so
   * this process is ahead only by announcements heard after the read: those follow the stored
   * log, which they extend.
   */
  #adopt(stored: StoredChannel): void {
    const state = this.#channels.get(stored.key);
    if (!state) {
      this.#channels.set(stored.key, { epoch: stored.epoch, offset: stored.offset, log: stored.log, members: new Map() });
      return;
    }
    const newer = stored.epoch === state.epoch ? state.log.filter((entry) => entry.offset > stored.offset) : [];
    const follows = newer.length > 0 && newer[0]!.offset === stored.offset + 1 && newer.at(-1)!.offset === state.offset;
    // Ahead by messages that do not follow the stored log: this copy stays (its log is whole from its oldest entry).
    if (stored.offset < state.offset && !follows) return;
    state.epoch = stored.epoch;
    state.offset = Math.max(stored.offset, state.offset);
    state.log = [...stored.log, ...newer];
  }

  #admit(session: Session, info: SessionInfo, message: MessageOf<'channel_join'>): void {
    const { channel } = message;
    const refusal = this.#authorize(info, channel, message.workspace_id);
    if (refusal) {
      this.#log.warn({ device_id: info.device_id, tenant_id: info.tenant_id, channel, reason: refusal.reason }, 'channel join refused');
      session.send({ type: 'channel_refused', channel, ...refusal });
      return;
    }
    const state = this.#channel(info.tenant_id, channel);
    this.#trim(state, this.#clock.now());
    state.members.set(session, state.offset);
    getOrCreate(this.#joined, session, () => new Set<string>()).add(keyOf(info.tenant_id, channel));
    const recover = message.recover;
    const oldest = state.log[0]?.offset ?? state.offset + 1;
    // Recoverable when the epoch is the same and nothing after the device's offset was trimmed.
    const recovery = !recover ? 'none' : recover.epoch === state.epoch && recover.offset >= oldest - 1 ? 'recovered' : 'lost';
    session.send({ type: 'channel_joined', channel, epoch: state.epoch, offset: state.offset, recovery });
    if (recovery !== 'recovered') return;
    for (const entry of state.log) {
      if (entry.offset <= recover!.offset) continue;
      session.send({ type: 'channel_message', channel, event: entry.event, payload: entry.payload, offset: entry.offset });
    }
  }

  #authorize(
    info: Who,
    channel: string,
    workspaceId: string | undefined,
  ): { reason: 'unauthorized' | 'unknown_channel'; message: string } | undefined {
    if (channel === 'extension') return undefined;
    const task = this.#tasks.get(channel.slice('task:'.length));
    if (!task) return { reason: 'unknown_channel', message: `no channel '${channel}'` };
    if (task.tenant_id !== info.tenant_id) return { reason: 'unauthorized', message: `'${channel}' belongs to another tenant` };
    if (task.workspace_id !== undefined && workspaceId !== task.workspace_id) {
      return { reason: 'unauthorized', message: `'${channel}' belongs to workspace '${task.workspace_id}'` };
    }
    return undefined;
  }

  /** `register` and `heartbeat` keep an instance listed; `unregister` removes it. Invalid ones are ignored. */
  #extension(info: SessionInfo, message: MessageOf<'channel_message'>): void {
    const byId = getOrCreate(this.#instances, info.tenant_id, () => new Map<string, ExtensionInstance>());
    if (message.event === 'unregister') {
      const id = message.payload.instance_id;
      if (typeof id === 'string' && byId.get(id)?.device_id === info.device_id) byId.delete(id);
      return;
    }
    if (message.event !== 'register' && message.event !== 'heartbeat') return;
    const parsed = InstanceRegistration.safeParse(message.payload);
    if (!parsed.success) {
      this.#log.warn({ device_id: info.device_id, event: message.event }, 'invalid extension registration ignored');
      return;
    }
    const now = this.#clock.now();
    const previous = byId.get(parsed.data.instance_id);
    // An instance belongs to the device that registered it until it unregisters or goes quiet.
    if (previous && previous.device_id !== info.device_id && previous.last_seen > now - this.#options.instanceTtlMs) {
      this.#log.warn(
        { device_id: info.device_id, instance_id: parsed.data.instance_id, owner: previous.device_id },
        'extension instance belongs to another device',
      );
      return;
    }
    byId.set(parsed.data.instance_id, {
      ...parsed.data,
      device_id: info.device_id,
      registered_at: previous?.registered_at ?? now,
      last_seen: now,
    });
  }

  #channel(tenantId: string, channel: string): Channel {
    return getOrCreate(this.#channels, keyOf(tenantId, channel), () => ({
      epoch: newEpoch(),
      offset: 0,
      log: [],
      members: new Map(),
    }));
  }

  /** Keeps the replay window: at most `replayWindow` messages, none older than `replayMaxAgeMs`. */
  #trim(state: Channel, now: number): void {
    const cutoff = now - this.#options.replayMaxAgeMs;
    let drop = Math.max(0, state.log.length - this.#options.replayWindow);
    while (drop < state.log.length && state.log[drop]!.at <= cutoff) drop += 1;
    if (drop > 0) state.log.splice(0, drop);
  }
}
