/**
 * Where the reliable channel messages' dedupe windows (`HubChannels`, the ids taken per device)
 * are kept beyond this process: the Redis engine's, so a message delivered just before a hub
 * restart (or through another node) and resent after it is dropped, not delivered twice. The
 * memory engine has none: its windows are the process's.
 *
 * A window is read back when the device joins a channel (it sends reliable messages only on
 * channels it joined), and each id taken is written through before it is acknowledged.
 */
export interface DedupeJournal {
  /** The ids of `scope`'s window (a device), oldest first. */
  load(scope: string): Promise<string[]>;
  /**
   * `id` was taken in `scope`'s window: kept with the last `limit` of them, all forgotten after
   * `ttlMs` without another. Resolves once stored.
   */
  taken(scope: string, id: string, now: number, limit: number, ttlMs: number): Promise<void>;
}
