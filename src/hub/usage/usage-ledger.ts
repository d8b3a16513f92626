import type { MessageOf } from '../../protocol/index.ts';
import { StorageError } from '../../adapters/storage.ts';
import { afterHeldWrites } from '../../adapters/write-batch.ts';
import { openRecordLog, type RecordLog } from '../../storage/record-log.ts';
import { BookedReports } from './booked-reports.ts';
import { type UsageEntry, type UsageStore, type UsageSummary, usageEntryOf } from './usage-store.ts';
import { summarize } from './usage-summary.ts';

/**
 * The hub's usage ledger: every usage report booked once per (tenant, report id), to the tenant
 * of the session it came on (never one a frame names). With a path it is an fsync'd append-only
 * file (the same record log as the device outbox) that a restarted hub reads back.
 *
 * @example
 * const ledger = await UsageLedger.open('/var/lib/hub/usage.log');
 * await ledger.book({ tenant_id: 'acme', device_id: 'laptop-1' }, report, Date.now()); // true
 * ledger.summary('acme').totals.reports; // 1
 */
export class UsageLedger implements UsageStore {
  /**
   * The file, with a path. Without one there is none: the index is the ledger. A memory log
   * beside it held a second record of every entry, never read, for the hub's life (bench/round-trip).
   */
  readonly #log: RecordLog<UsageEntry> | undefined;
  /** Every entry booked, kept outside the JS heap (booked-reports.ts): the hub keeps them for its life. */
  readonly #booked = new BookedReports();
  /**
   * In memory: the first report booked this turn, not yet written into {@link #booked}. Its ack
   * needs only to know it is new (a look-up); the writing (its text into the arena) waits until
   * the turn's frames are written (bench/round-trip, docs/performance.md).
   */
  #held: UsageEntry | undefined = undefined;
  /** Whether {@link #endOfTurn} is queued: until it runs, reports are booked at once, after the held one. */
  #turnHeld = false;
  #closed = false;

  private constructor(log: RecordLog<UsageEntry> | undefined) {
    this.#log = log;
    // As a Map's `set`: a report the file holds twice (a write that failed yet landed) keeps its first place and its last entry.
    for (const { value } of log?.pending() ?? []) this.#booked.set(value);
  }

  /** Opens the ledger at `path` (in memory without one). */
  static async open(path: string | undefined): Promise<UsageLedger> {
    // Nothing is ever acknowledged: the ledger keeps every entry, so never compacts.
    return new UsageLedger(
      path === undefined ? undefined : await openRecordLog<UsageEntry>(path, { compactAfter: Number.MAX_SAFE_INTEGER }),
    );
  }

  /**
   * Books a report once. Resolves true when it is new and durable, false when that report id was
   * booked already for this tenant.
   *
   * @throws {StorageError} when it cannot be written (it is then not booked).
   */
  book(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): Promise<boolean> {
    const log = this.#log;
    if (!log) {
      if (this.#closed) return Promise.reject(new StorageError('memory:', 'the ledger is closed'));
      return Promise.resolve(this.bookAtOnce(where, report, now)!);
    }
    const entry = usageEntryOf(where, report, now);
    // Indexed before the write, so a copy arriving meanwhile is not booked twice.
    if (!this.#booked.add(entry)) return Promise.resolve(false);
    // The write's own promise, not an async function around it: one promise less per report (bench/round-trip).
    let written: Promise<unknown>;
    try {
      written = log.append(entry);
    } catch (error) {
      written = Promise.reject(error);
    }
    return written.then(
      () => true,
      (error: unknown) => {
        this.#booked.delete(entry.tenant_id, entry.report_id);
        throw error;
      },
    );
  }

  /**
   * Without a path, books at once: the index is all there is to write. The first report of a
   * turn is looked up only, and written after the turn's frames (its ack among them): one at a
   * time, that is the whole cost of the report before the device hears back. The rest of the
   * turn's are written at once, after it, so the order of booking is kept and a look-up each is
   * not added to a burst's.
   */
  bookAtOnce(where: { tenant_id: string; device_id: string }, report: MessageOf<'usage_report'>, now: number): boolean | undefined {
    // Closed, `book` gives the error.
    if (this.#log || this.#closed) return undefined;
    const entry = usageEntryOf(where, report, now);
    if (this.#turnHeld) {
      this.#bookHeld();
      return this.#booked.add(entry);
    }
    if (this.#booked.has(entry.tenant_id, entry.report_id)) return false;
    this.#held = entry;
    this.#turnHeld = true;
    afterHeldWrites(this.#endOfTurn);
    return true;
  }

  /** A tenant's reports, oldest first, and their totals. */
  summary(tenantId: string): UsageSummary {
    this.#bookHeld();
    return summarize(tenantId, this.#booked.entries(tenantId));
  }

  close(): Promise<void> {
    this.#bookHeld();
    this.#closed = true;
    return this.#log?.close() ?? Promise.resolve();
  }

  /** Writes the held report into the index, if one is held. */
  #bookHeld(): void {
    const held = this.#held;
    if (held === undefined) return;
    // Let go of it once written: a throw (from the end of a turn, where no caller hears it) keeps it held, not lost.
    this.#booked.add(held);
    this.#held = undefined;
  }

  /** Run after the turn's writes: the held report is written, and the next turn's first may be held. An arrow: no closure per turn. */
  readonly #endOfTurn = (): void => {
    this.#turnHeld = false;
    this.#bookHeld();
  };
}

/**
 * The hub's ledger, opened once by the first `listen()` (reading its file back) and closed with
 * the hub. `current` is undefined until then.
 */
export class LedgerSlot {
  current: UsageStore | undefined;
  #opening: Promise<UsageStore> | undefined;

  readonly #openStore: () => Promise<UsageStore>;

  /** `store` opens the ledger: a path (a record log, in memory without one), or a hub engine's opener. */
  constructor(store: string | undefined | (() => Promise<UsageStore>)) {
    this.#openStore = typeof store === 'function' ? store : () => UsageLedger.open(store);
  }

  async open(): Promise<UsageStore> {
    this.#opening ??= this.#openStore();
    this.current = await this.#opening;
    return this.current;
  }

  close(): Promise<void> {
    return this.current?.close() ?? Promise.resolve();
  }
}
