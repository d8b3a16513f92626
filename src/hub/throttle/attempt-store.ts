/** What the throttle remembers of one key (an address or a credential id of one kind). */
export interface AttemptRecord {
  /** Failed attempts counted; 0 for a mark (an address a credential succeeded from). */
  failures: number;
  /** Attempts are refused until then (epoch ms); 0 when not locked. */
  lockedUntil: number;
  /** The record is forgotten then (epoch ms). */
  expiresAt: number;
}

/**
 * Where failed attempts are counted. Asynchronous, and counting in one step per key, so that a
 * store shared by several hub nodes can implement it; {@link MemoryAttemptStore} is the
 * in-process one.
 */
export interface AttemptStore {
  /** The record of `key`, unless there is none or it expired by `now`. */
  get(key: string, now: number): Promise<AttemptRecord | undefined>;
  /**
   * Counts one more failure of `key` (an expired record counts as none) and stores what `next`
   * makes of the new count: its lock-out and its expiry. Resolves with the stored record.
   */
  fail(key: string, now: number, next: (failures: number) => Omit<AttemptRecord, 'failures'>): Promise<AttemptRecord>;
  /** Stores a mark (a record without failures) that expires at `expiresAt`; `now` is when (a shared store's TTL counts from it). */
  mark(key: string, expiresAt: number, now: number): Promise<void>;
}

/** Records the in-memory store holds at most by default: a few MiB. */
export const DEFAULT_MAX_ATTEMPT_RECORDS = 50_000;

/**
 * The in-process {@link AttemptStore}: a `Map` in least-recently-written order, at most
 * `maxRecords` long. Past it the least recently written record is dropped, so a flood from
 * countless addresses costs a bounded table (and may push out the oldest records: each drop
 * forgets at most one key's count, never locks anyone out). Expired records go when read.
 *
 * @example
 * const store = new MemoryAttemptStore(10_000);
 * await store.fail('addr:connect:192.0.2.7', now, (failures) => ({ lockedUntil: 0, expiresAt: now + 60_000 }));
 */
export class MemoryAttemptStore implements AttemptStore {
  readonly #records = new Map<string, AttemptRecord>();
  readonly #maxRecords: number;

  constructor(maxRecords: number = DEFAULT_MAX_ATTEMPT_RECORDS) {
    this.#maxRecords = Math.max(1, maxRecords);
  }

  /** How many records are held now. */
  get size(): number {
    return this.#records.size;
  }

  get(key: string, now: number): Promise<AttemptRecord | undefined> {
    return Promise.resolve(this.#live(key, now));
  }

  fail(key: string, now: number, next: (failures: number) => Omit<AttemptRecord, 'failures'>): Promise<AttemptRecord> {
    const failures = (this.#live(key, now)?.failures ?? 0) + 1;
    const record = { failures, ...next(failures) };
    this.#write(key, record);
    return Promise.resolve(record);
  }

  mark(key: string, expiresAt: number, _now?: number): Promise<void> {
    this.#write(key, { failures: 0, lockedUntil: 0, expiresAt });
    return Promise.resolve();
  }

  #live(key: string, now: number): AttemptRecord | undefined {
    const record = this.#records.get(key);
    if (record && record.expiresAt <= now) {
      this.#records.delete(key);
      return undefined;
    }
    return record;
  }

  #write(key: string, record: AttemptRecord): void {
    // Deleting first moves the key to the end: the Map's order is the order of last writes.
    this.#records.delete(key);
    this.#records.set(key, record);
    if (this.#records.size > this.#maxRecords) {
      const oldest = this.#records.keys().next().value;
      if (oldest !== undefined) this.#records.delete(oldest);
    }
  }
}
