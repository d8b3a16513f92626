import { HashKeys, longestRun, stringHash } from '../../util/string-hash.ts';
import { ByteReader, ByteWriter } from '../../util/byte-form.ts';
import { isJsonExact } from '../../util/json-exact.ts';
import { NameNumbers } from '../../util/name-numbers.ts';
import { rebuiltIndex, removeCell } from '../../util/probe-cells.ts';
import { TextArena } from '../../util/text-arena.ts';
import type { UsageEntry } from './usage-store.ts';

/** What an entry is kept as: nothing (deleted), JSON text in the arena, bytes there ({@link compactBytes}), or the object itself. */
const DELETED = 0;
const TEXT = 1;
const OBJECT = 2;
const COMPACT = 3;

/** An entry's keys as `usageEntryOf` makes them, in its order. */
const ENTRY_KEYS = ['tenant_id', 'device_id', 'report_id', 'request_id', 'metrics', 'booked_at'];
/** The report id the connector gives every report: `usage:<request id>` (src/protocol/built-messages.ts). */
const USAGE_PREFIX = 'usage:';
/** A compact entry's report id: that one (derived from its request id), or written out. */
const DERIVED = 1;
const WRITTEN = 0;

const FIRST_ENTRIES = 64;
const ARENA_CHUNK_BYTES = 256 * 1024;

/** One tenant's entries, by entry number, in the order they were booked. */
interface TenantEntries {
  readonly index: number;
  numbers: Uint32Array;
  count: number;
}

/**
 * The usage entries a ledger has booked, once per (tenant, report id), each tenant's in booking
 * order: the ledger's index, for the hub's life.
 *
 * None of it is on the JS heap. The entries were a `Map` per tenant of entry objects (≈245 B
 * each and their strings): every one was copied by two scavenges and promoted, and the maps'
 * tables, growing in the old generation, took a young entry every report, so each scavenge had
 * more to copy and to visit (bench/round-trip). An entry is kept in a {@link TextArena}: as
 * bytes when it has the form `usageEntryOf` makes ({@link ByteWriter}: what a structured clone
 * gives back), else as JSON text; found through an open-addressing table of entry numbers in a
 * typed array, and read back for a summary. An entry neither gives back as a structured clone
 * would (a `Date` in its metrics; for JSON a `-0`, an `undefined`) is kept as the object, so
 * every entry reads back exactly as the `Map` gave it.
 *
 * Report ids are chosen by devices, and kept for the hub's life, so the hash is keyed with
 * random words of this instance's own; should a probe run past `MAX_PROBE` anyway
 * ({@link HashKeys}), the table takes new keys and is built again.
 *
 * @example
 * const booked = new BookedReports();
 * booked.add(entry);        // true: booked
 * booked.add(entry);        // false: booked already
 * booked.entries('acme'); // [entry], a copy
 */
export class BookedReports {
  readonly #tenants = new Map<string, TenantEntries>();
  readonly #tenantIds: string[] = [];
  /** Entries ever added; entry numbers are 0 to this - 1. */
  #added = 0;
  #live = 0;
  /** Per entry number: {@link DELETED}, {@link TEXT} or {@link OBJECT}; its tenant's index; its key's hash; where its text is and its byte length. */
  #kinds = new Uint8Array(FIRST_ENTRIES);
  #tenantOf = new Uint32Array(FIRST_ENTRIES);
  #hashes = new Int32Array(FIRST_ENTRIES);
  #starts = new Float64Array(FIRST_ENTRIES);
  #lengths = new Uint32Array(FIRST_ENTRIES);
  readonly #objects = new Map<number, UsageEntry>();
  /** Device ids, each once, by the number a compact entry keeps (a hub's devices are few; its reports are not). */
  readonly #devices = new NameNumbers();
  readonly #arena = new TextArena(ARENA_CHUNK_BYTES);
  /** Where a compact entry is written before it is copied into the arena. */
  readonly #writer = new ByteWriter();
  /** Open addressing, linear probing, at most half full: entry number + 1 per cell, 0 where empty. */
  #table = new Float64Array(2 * FIRST_ENTRIES);
  /** The hash's keys, and new ones whenever a probe runs past `MAX_PROBE`. */
  readonly #hashKeys: HashKeys;
  /** A cell's entry's hash (src/util/probe-cells.ts): made once, not per removal. */
  readonly #hashOfCell = (cell: number): number => this.#hashes[cell - 1]!;

  /** @param keys the hash's first keys (two words); random unless a test fixes them. */
  constructor(keys?: readonly [number, number]) {
    this.#hashKeys = new HashKeys(keys);
  }

  /** How many times the table has taken new keys since it was made (a diagnostic: report ids built to collide). */
  get rekeyed(): number {
    return this.#hashKeys.rekeyed;
  }

  /** The longest run of occupied cells in the table: what the slowest lookup walks (a diagnostic, O(table)). */
  longestRun(): number {
    return longestRun(this.#table.length, (at) => this.#table[at] !== 0);
  }

  /** Entries booked and not deleted. */
  get size(): number {
    return this.#live;
  }

  has(tenantId: string, reportId: string): boolean {
    const tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) return false;
    return this.#table[this.#find(tenant.index, reportId, stringHash(reportId, this.#hashKeys.words, tenant.index))] !== 0;
  }

  /** Books `entry` unless its report id is booked for its tenant already: false then, and nothing changes. */
  add(entry: UsageEntry): boolean {
    return this.#put(entry, false);
  }

  /** Books `entry`; one booked already under its tenant and report id is replaced in its place (as `Map.set` does). */
  set(entry: UsageEntry): void {
    this.#put(entry, true);
  }

  #put(entry: UsageEntry, replace: boolean): boolean {
    let tenant = this.#tenants.get(entry.tenant_id);
    if (tenant === undefined) {
      tenant = { index: this.#tenants.size, numbers: new Uint32Array(FIRST_ENTRIES), count: 0 };
      this.#tenants.set(entry.tenant_id, tenant);
      this.#tenantIds.push(entry.tenant_id);
    }
    const hash = stringHash(entry.report_id, this.#hashKeys.words, tenant.index);
    const at = this.#find(tenant.index, entry.report_id, hash);
    if (this.#table[at] !== 0) {
      if (replace) this.#keep(this.#table[at]! - 1, entry);
      return false;
    }
    if (this.#added === this.#kinds.length) this.#growEntries();
    const number = this.#added++;
    this.#tenantOf[number] = tenant.index;
    this.#hashes[number] = hash;
    this.#keep(number, entry);
    if (tenant.count === tenant.numbers.length) {
      const numbers = new Uint32Array(tenant.count * 2);
      numbers.set(tenant.numbers);
      tenant.numbers = numbers;
    }
    tenant.numbers[tenant.count++] = number;
    this.#table[at] = number + 1;
    this.#live++;
    const walked = (at - hash) & (this.#table.length - 1);
    if (this.#live * 2 > this.#table.length) this.#table = rebuiltIndex(this.#table, this.#table.length * 2, this.#hashOfCell);
    if (this.#hashKeys.rekeyAfterAdd(walked, this.#table.length)) this.#rehash();
    return true;
  }

  /** Keeps `entry` as entry `number`: as bytes in its compact form, else as text when JSON gives it back exactly, else as the object. */
  #keep(number: number, entry: UsageEntry): void {
    this.#objects.delete(number);
    if (this.#compactBytes(entry)) {
      this.#starts[number] = this.#arena.appendBytes(this.#writer.bytes, this.#writer.at);
      this.#lengths[number] = this.#writer.at;
      this.#kinds[number] = COMPACT;
    } else if (isJsonExact(entry)) {
      // The whole entry, keys and all: one read back from a ledger's file may hold more than `usageEntryOf` makes.
      this.#starts[number] = this.#arena.append(JSON.stringify(entry));
      this.#lengths[number] = this.#arena.lastBytes;
      this.#kinds[number] = TEXT;
    } else {
      this.#objects.set(number, entry);
      this.#kinds[number] = OBJECT;
    }
  }

  /** Unbooks a report (its write failed): booked again, it comes last. */
  delete(tenantId: string, reportId: string): void {
    const tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) return;
    const at = this.#find(tenant.index, reportId, stringHash(reportId, this.#hashKeys.words, tenant.index));
    const cell = this.#table[at]!;
    if (cell === 0) return;
    // Its place in the tenant's order stays, as deleted: skipped by `entries`.
    this.#kinds[cell - 1] = DELETED;
    this.#objects.delete(cell - 1);
    removeCell(this.#table, at, this.#hashOfCell);
    this.#live--;
  }

  /** A tenant's entries, oldest first: copies, but for an entry kept as its object (see the class), which is that object. */
  entries(tenantId: string): UsageEntry[] {
    const tenant = this.#tenants.get(tenantId);
    const entries: UsageEntry[] = [];
    if (tenant === undefined) return entries;
    for (let i = 0; i < tenant.count; i++) {
      const number = tenant.numbers[i]!;
      if (this.#kinds[number] !== DELETED) entries.push(this.#entryAt(number));
    }
    return entries;
  }

  #entryAt(number: number): UsageEntry {
    const kind = this.#kinds[number];
    if (kind === OBJECT) return this.#objects.get(number)!;
    if (kind === TEXT) return JSON.parse(this.#arena.read(this.#starts[number]!, this.#lengths[number]!)) as UsageEntry;
    const reader = new ByteReader(this.#arena.view(this.#starts[number]!, this.#lengths[number]!));
    const deviceId = this.#devices.nameOf(reader.u32());
    const derived = reader.u8() === DERIVED;
    const reportId = derived ? undefined : reader.string();
    const requestId = reader.string();
    const metrics = reader.value() as UsageEntry['metrics'];
    return {
      tenant_id: this.#tenantIds[this.#tenantOf[number]!]!,
      device_id: deviceId,
      report_id: reportId ?? USAGE_PREFIX + requestId,
      request_id: requestId,
      metrics,
      booked_at: reader.f64(),
    };
  }

  /**
   * Writes an entry of the form `usageEntryOf` makes (its keys, in order; a report id `usage:<request
   * id>`, as the connector gives) as what is not known otherwise: its device's number (u32),
   * whether its report id is that one (u8; else the id follows), its request id, metrics (src/util/byte-form.ts)
   * and time (f64). JSON of these wrote the time as a decimal and checked the metrics before
   * serialising them, a walk each (bench/round-trip). False for any other entry, or metrics a
   * structured clone would give back otherwise.
   */
  #compactBytes(entry: UsageEntry): boolean {
    let k = 0;
    for (const key in entry) if (key !== ENTRY_KEYS[k++]) return false;
    const { device_id: deviceId, report_id: reportId, request_id: requestId, booked_at: bookedAt } = entry;
    if (k !== ENTRY_KEYS.length || typeof deviceId !== 'string' || typeof reportId !== 'string' || typeof requestId !== 'string')
      return false;
    if (typeof bookedAt !== 'number') return false;
    const device = this.#devices.numberOf(deviceId)!;
    const derived =
      reportId.length === USAGE_PREFIX.length + requestId.length && reportId.startsWith(USAGE_PREFIX) && reportId.endsWith(requestId);
    const writer = this.#writer;
    writer.reset();
    writer.u32(device);
    writer.u8(derived ? DERIVED : WRITTEN);
    if (!derived) writer.string(reportId);
    writer.string(requestId);
    const written = writer.value(entry.metrics);
    // The metrics met let go of, written or declined: not held here until the next entry (the bytes stay).
    writer.forgetMet();
    if (!written) return false;
    writer.f64(bookedAt);
    return true;
  }

  /** The cell of the tenant's entry for `reportId`, or the empty cell where it would go. */
  #find(tenant: number, reportId: string, hash: number): number {
    const table = this.#table;
    const mask = table.length - 1;
    let at = hash & mask;
    // The text is read (and parsed) only when tenant and hash match: a booked copy, or one in 2^32 otherwise.
    for (let cell = table[at]!; cell !== 0; cell = table[(at = (at + 1) & mask)]!) {
      const number = cell - 1;
      if (this.#hashes[number] === hash && this.#tenantOf[number] === tenant && this.#entryAt(number).report_id === reportId) return at;
    }
    return at;
  }

  /** The table built again under the hash's new keys: each entry's report id read back once. */
  #rehash(): void {
    for (const cell of this.#table) {
      if (cell === 0) continue;
      const number = cell - 1;
      this.#hashes[number] = stringHash(this.#entryAt(number).report_id, this.#hashKeys.words, this.#tenantOf[number]);
    }
    this.#table = rebuiltIndex(this.#table, this.#table.length, this.#hashOfCell);
  }

  #growEntries(): void {
    const size = this.#kinds.length * 2;
    this.#kinds = grown(new Uint8Array(size), this.#kinds);
    this.#tenantOf = grown(new Uint32Array(size), this.#tenantOf);
    this.#hashes = grown(new Int32Array(size), this.#hashes);
    this.#starts = grown(new Float64Array(size), this.#starts);
    this.#lengths = grown(new Uint32Array(size), this.#lengths);
  }
}

function grown<T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(into: T, from: T): T {
  into.set(from as ArrayLike<number>);
  return into;
}
