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

/**
 * Where the channels' offsets and replay windows are kept beyond this process: the Redis
 * engine's (a stream per channel), so a hub restarted, or another hub node on the same Redis,
 * answers a device's rejoin from them. The memory engine has none: its channels are the
 * process's, and a restart gives them new epochs.
 *
 * An epoch names one unbroken history of a channel. When the history lost messages it had kept
 * (Redis lost its data, or the stream was deleted), the channel gets a new epoch, so a device
 * that recovers from the old one is answered `recovery: 'lost'` and never handed a gap as if
 * it were complete.
 */
export interface ChannelHistory {
  /** Every channel kept, for a hub that starts (`listen()`). */
  restore(): Promise<StoredChannel[]>;
  /** One channel as kept now (undefined when none is), for a device's join; `epoch` is the one to give it if its history was lost. */
  read(key: string, epoch: string): Promise<StoredChannel | undefined>;
  /**
   * Keeps a message published at `entry.offset` under `epoch`, with about the last `keep` of the
   * channel's. Resolves with the channel's epoch after it: another one when its history was lost
   * meanwhile (the message then starts the new one). Rejects when `entry.offset` does not follow
   * the offset kept (another node published to the channel).
   */
  append(key: string, epoch: string, entry: HistoryEntry, keep: number): Promise<string>;
  /** Forgets a channel (its task closed). */
  forget(key: string): Promise<void>;
}
