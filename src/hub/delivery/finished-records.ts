import { HashKeys, longestRun, stringHash } from '../../util/string-hash.ts';
import { rebuiltIndex, removeCell } from '../../util/probe-cells.ts';
import { grownRing } from '../../util/grown-ring.ts';
import { TextArena } from '../../util/text-arena.ts';

/** What a slot holds: nothing (forgotten), its key and bytes in the arena, or an object kept as it is. */
const EMPTY = 0;
const BYTES = 1;
const OBJECT = 2;

const FIRST_SLOTS = 16;
/** A UTF-16 code unit UTF-8 cannot carry: the arena would give back U+FFFD for it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ARENA_CHUNK_BYTES = 64 * 1024;

/**
 * Finished execution records by request id, kept off the JS heap, oldest forgotten first: what
 * the hub keeps of its last `retainExecutions` executions (src/hub/delivery/executions.ts).
 *
 * A record kept as objects for 10,000 executions after its end outlives every scavenge in
 * between: it was copied twice and promoted, then died old, and the store's `Map` of 10,000
 * records took a young entry for every execution (bench/round-trip). Here a record is bytes
 * (its owner's encoding: src/hub/delivery/finished-form.ts) in a {@link TextArena}, with its key; the arena's oldest chunks are
 * let go of as the oldest records are forgotten; a record is found through an open-addressing
 * table of ticket numbers in a typed array. A value kept as an object (its owner could not encode
 * it exactly), or any value under a key that is not well-formed UTF-16, is kept as the object, beside.
 *
 * Request ids are chosen by a host's clients, so the hash is keyed with random words of this
 * instance's own; should a probe run past `MAX_PROBE` anyway ({@link HashKeys}), the index takes
 * new keys and is built again.
 *
 * @example
 * const finished = new FinishedRecords<Tracked>();
 * finished.addBytes('req_1', bytes, length);
 * finished.get('req_1'); // a view of those bytes
 * finished.dropOldest();
 */
export class FinishedRecords<T> {
  /** Records held: tickets `#first` to `#next - 1`, in rings indexed by `ticket & mask`. */
  #first = 0;
  #next = 0;
  #kinds = new Uint8Array(FIRST_SLOTS);
  #hashes = new Int32Array(FIRST_SLOTS);
  /** Where in the arena each slot's key starts (at `2 * slot`) and its bytes (at `+ 1`). */
  #starts = new Float64Array(2 * FIRST_SLOTS);
  /** Byte lengths per slot: its key at `2 * slot`, its bytes at `+ 1`. */
  #lengths = new Uint32Array(2 * FIRST_SLOTS);
  /** Records kept as objects, by ticket, with their keys. */
  readonly #objects = new Map<number, { key: string; value: T | Buffer }>();
  readonly #arena = new TextArena(ARENA_CHUNK_BYTES);
  /** Open addressing, linear probing, at most half full: ticket + 1 per cell, 0 where empty. */
  #index = new Float64Array(2 * FIRST_SLOTS);
  /** The hash's keys, and new ones whenever a probe runs past `MAX_PROBE`. */
  readonly #hashKeys: HashKeys;
  /** A cell's record's hash (src/util/probe-cells.ts): made once, not per removal. */
  readonly #hashOfCell = (cell: number): number => this.#hashes[(cell - 1) & this.#mask]!;

  /** @param keys the hash's first keys (two words); random unless a test fixes them. */
  constructor(keys?: readonly [number, number]) {
    this.#hashKeys = new HashKeys(keys);
  }

  /** How many times the index has taken new keys since it was made (a diagnostic: keys built to collide). */
  get rekeyed(): number {
    return this.#hashKeys.rekeyed;
  }

  /** The longest run of occupied cells in the index: what the slowest lookup walks (a diagnostic, O(index)). */
  longestRun(): number {
    return longestRun(this.#index.length, (at) => this.#index[at] !== 0);
  }

  /** Records held. */
  get size(): number {
    return this.#next - this.#first;
  }

  /** Bytes of the arena held (a diagnostic: what the tests hold bounded). */
  get arenaBytes(): number {
    return this.#arena.bytes;
  }

  has(key: string): boolean {
    return this.#index[this.#find(key, stringHash(key, this.#hashKeys.words))] !== 0;
  }

  /**
   * The record under `key`: a view of its bytes (read it before the next {@link add} or
   * {@link dropOldest}), or the object it was kept as; undefined when there is none.
   */
  get(key: string): Buffer | T | undefined {
    const cell = this.#index[this.#find(key, stringHash(key, this.#hashKeys.words))]!;
    return cell === 0 ? undefined : this.#valueOf(cell - 1);
  }

  /** Keeps `value` under `key`, newest, which is not held (ask {@link has}). */
  add(key: string, value: T): void {
    this.#put(key, value, undefined, 0);
  }

  /** Keeps a copy of the first `length` bytes of `bytes` under `key`, newest, which is not held (ask {@link has}). */
  addBytes(key: string, bytes: Uint8Array, length: number): void {
    this.#put(key, undefined, bytes, length);
  }

  #put(key: string, value: T | undefined, bytes: Uint8Array | undefined, length: number): void {
    if (this.#next - this.#first === this.#kinds.length) this.#growSlots();
    const ticket = this.#next++;
    const slot = ticket & this.#mask;
    const hash = stringHash(key, this.#hashKeys.words);
    this.#hashes[slot] = hash;
    if (bytes !== undefined && !LONE_SURROGATE.test(key)) {
      this.#starts[2 * slot] = this.#arena.append(key);
      this.#lengths[2 * slot] = this.#arena.lastBytes;
      this.#starts[2 * slot + 1] = this.#arena.appendBytes(bytes, length);
      this.#lengths[2 * slot + 1] = length;
      this.#kinds[slot] = BYTES;
    } else {
      // Bytes under a key the arena cannot give back: a copy, kept beside.
      this.#objects.set(ticket, { key, value: bytes !== undefined ? Buffer.from(bytes.subarray(0, length)) : value! });
      this.#kinds[slot] = OBJECT;
    }
    const at = this.#find(key, hash);
    this.#index[at] = ticket + 1;
    const walked = (at - hash) & (this.#index.length - 1);
    if (2 * this.size > this.#index.length) this.#index = rebuiltIndex(this.#index, this.#index.length * 2, this.#hashOfCell);
    if (this.#hashKeys.rekeyAfterAdd(walked, this.#index.length)) this.#rehash();
  }

  /** Forgets the oldest record. */
  dropOldest(): void {
    if (this.size === 0) return;
    const ticket = this.#first++;
    const slot = ticket & this.#mask;
    this.#objects.delete(ticket);
    this.#kinds[slot] = EMPTY;
    // Its cell: the one on its hash's probe path that holds its ticket.
    const mask = this.#index.length - 1;
    for (let at = this.#hashes[slot]! & mask; this.#index[at] !== 0; at = (at + 1) & mask) {
      if (this.#index[at] === ticket + 1) {
        removeCell(this.#index, at, this.#hashOfCell);
        break;
      }
    }
    this.#arena.releaseBefore(this.#oldestStart());
  }

  get #mask(): number {
    return this.#kinds.length - 1;
  }

  /** Where the oldest record kept in the arena starts; the arena's end when there is none. */
  #oldestStart(): number {
    for (let ticket = this.#first; ticket < this.#next; ticket++) {
      const slot = ticket & this.#mask;
      if (this.#kinds[slot] === BYTES) return this.#starts[2 * slot]!;
    }
    return this.#arena.end;
  }

  #valueOf(ticket: number): Buffer | T {
    const slot = ticket & this.#mask;
    if (this.#kinds[slot] === OBJECT) return this.#objects.get(ticket)!.value;
    return this.#arena.view(this.#starts[2 * slot + 1]!, this.#lengths[2 * slot + 1]!);
  }

  #keyOf(ticket: number): string {
    const slot = ticket & this.#mask;
    if (this.#kinds[slot] === OBJECT) return this.#objects.get(ticket)!.key;
    return this.#arena.read(this.#starts[2 * slot]!, this.#lengths[2 * slot]!);
  }

  /** The cell holding `key`, or the empty cell where it would go. */
  #find(key: string, hash: number): number {
    const index = this.#index;
    const mask = index.length - 1;
    let at = hash & mask;
    // The key is read only when the hash matches: the record itself, or one in 2^32 otherwise.
    for (let cell = index[at]!; cell !== 0; cell = index[(at = (at + 1) & mask)]!) {
      if (this.#hashes[(cell - 1) & this.#mask] === hash && this.#keyOf(cell - 1) === key) return at;
    }
    return at;
  }

  /** The index built again under the hash's new keys. */
  #rehash(): void {
    for (let ticket = this.#first; ticket < this.#next; ticket++)
      this.#hashes[ticket & this.#mask] = stringHash(this.#keyOf(ticket), this.#hashKeys.words);
    this.#index = rebuiltIndex(this.#index, this.#index.length, this.#hashOfCell);
  }

  #growSlots(): void {
    const first = this.#first;
    const next = this.#next;
    this.#kinds = grownRing(this.#kinds, 1, first, next);
    this.#hashes = grownRing(this.#hashes, 1, first, next);
    this.#starts = grownRing(this.#starts, 2, first, next);
    this.#lengths = grownRing(this.#lengths, 2, first, next);
  }
}
