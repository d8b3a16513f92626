/** One message kept in a channel's replay window. */
export interface HistoryEntry {
  offset: number;
  event: string;
  payload: Record<string, unknown>;
  /** When it was published (the hub's clock). */
  at: number;
}

/** A channel as its history keeps it: its epoch, its last offset, and the messages kept, oldest first. */
export interface StoredChannel {
  /** `tenant NUL channel`. */
  key: string;
  epoch: string;
  offset: number;
  log: HistoryEntry[];
}

/** A message kept in a channel's history under `offset` and `epoch`, as every hub node hears of it. */
export interface PublishedMessage {
  tenant_id: string;
  channel: string;
  event: string;
  payload: Record<string, unknown>;
  offset: number;
  epoch: string;
  /** When it was published (the publishing node's clock). */
  at: number;
}

/** A channel by its parts: the tenant and the channel's name (`key` is `tenant NUL channel`). */
export interface ChannelRef {
  key: string;
  tenant_id: string;
  channel: string;
}

/** What this process knows of a channel: its epoch and last offset (0 for a channel it never saw numbered). */
export interface KnownChannel {
  epoch: string;
  offset: number;
}

/**
 * Where the channels' offsets and replay windows are kept beyond this process: the Redis
 * engine's (a stream per channel), so a hub restarted, or another hub node on the same Redis,
 * answers a device's rejoin from them. The memory engine has none: its channels are the
 * process's, and a restart gives them new epochs.
 *
 * The history numbers the messages: each append takes the channel's next offset and keeps the
 * message under it in one atomic step, so several nodes publishing to one channel at once each
 * get their own offset, and the history holds every message once, in offset order. Every append
 * is announced to every node, the appending one too (`HubChannels.published`), in the order the
 * offsets were taken: the members on every node get the same messages in the same order.
 *
 * An epoch names one unbroken history of a channel. When the history lost messages it had kept
 * (Redis lost its data, or the stream was deleted), the channel gets a new epoch, so a device
 * that recovers from the old one is answered `recovery: 'lost'` and never handed a gap as if
 * it were complete. Offsets never go back, in a new epoch too: a device keeps taking messages
 * until it rejoins.
 */
export interface ChannelHistory {
  /** Every channel kept, for a hub that starts (`listen()`). */
  restore(): Promise<StoredChannel[]>;
  /**
   * One channel as kept now, for a device's join. A channel the history does not have yet is
   * started from `known` (its epoch when `known.offset` is 0, else a new one, counting on from
   * `known.offset`), so every node gives a channel's members the same epoch from its first join.
   */
  read(key: string, known: KnownChannel): Promise<StoredChannel>;
  /**
   * Takes the channel's next offset and keeps the message under it, with about the last `keep`
   * of the channel's, and announces it to every node; resolves with the offset and the epoch it
   * was kept under (a new one when the history was lost meanwhile). A channel new to the history
   * starts from `known`, as in {@link ChannelHistory.read}.
   */
  append(
    channel: ChannelRef,
    known: KnownChannel,
    entry: Omit<HistoryEntry, 'offset'>,
    keep: number,
  ): Promise<{ epoch: string; offset: number }>;
  /** Forgets a channel (its task closed). */
  forget(key: string): Promise<void>;
}
