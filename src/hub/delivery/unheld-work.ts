import type { QueuedMessage } from './device-queue.ts';

type Who = { tenant_id: string; device_id: string };

/** Work taken out of the queue of a device no node holds, because it waited past the resume window. */
export interface ExpiredWork {
  who: Who;
  entry: QueuedMessage;
}

/**
 * The waiting work of devices no hub node holds, in a store several nodes share (docs/scaling.md,
 * "Several nodes"): a device connected nowhere has no node to time its queue, so one node at a
 * time, the one holding a lease, expires it for all. The Redis engine has one; the memory engine
 * none (a single node times every queue itself).
 *
 * @example
 * if (await work.lease('eu-1', clock.now(), 15_000)) {
 *   const { expired } = await work.expire(clock.now() - resumeWindowMs);
 * }
 */
export interface UnheldWork {
  /**
   * Takes the lease for `node`, or renews it, until `now + ttlMs` (the hub's clock: nodes keep
   * their clocks in step). Resolves false while another node's lease runs.
   */
  lease(node: string, now: number, ttlMs: number): Promise<boolean>;
  /** Lets the lease go, if it is `node`'s (a node that closes): another node takes it at once. */
  release(node: string): Promise<void>;
  /**
   * Takes out the waiting work (cancels stay) enqueued at or before `cutoff` from the queue of
   * every device no node holds, each device in one atomic step (a claim sees all of it or none),
   * and counts it as missed for the device's next `connect_ack`. Resolves with what was taken,
   * and when the oldest work left waiting was enqueued (undefined: none is).
   */
  expire(cutoff: number): Promise<{ expired: ExpiredWork[]; oldest: number | undefined }>;
}
