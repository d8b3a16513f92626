import { randomFillSync } from 'node:crypto';

/** Slots the ring starts with; it doubles as ids come, up to `limit`. */
const FIRST_CAPACITY = 64;
/** What a ring slot holds: nothing (never written, or deleted), a UUID kept as four words, or an id kept as its string. */
const EMPTY = 0;
const WORDS = 1;
const TEXT = 2;

/** The four 32-bit words of the last id {@link uuidWords} read. */
const scratch = new Uint32Array(4);
/**
 * A probe longer than this makes the table take new keys: a run this long at half load means
 * the ids were chosen to collide, not drawn at random.
 */
const MAX_PROBE = 64;

/**
 * A bounded set of recent ids, oldest forgotten first: what makes a resend harmless without
 * remembering every id ever seen.
 *
 * The ids' arrival order lives in a ring, so forgetting the oldest is a delete by slot. An id in
 * the form devices give theirs (a UUID, lowercase and hyphenated: `randomUUID()`) is kept as its
 * 128 bits, four words of a typed array, and found through an open-addressing table of ring
 * slots: no object per id. A window of 50,000 ids held as strings in a `Map` was a string, an
 * entry and a ring slot per id, every one copied by scavenges until old (bench/round-trip). Any
 * other id is kept as its string in a `Map`. The two never meet: only the one exact spelling of
 * 128 bits is kept as words, so no two ids are ever taken for one another.
 *
 * A device chooses its own ids, so the table's hash is keyed with random words of this
 * instance's own: ids built to share one hash under a known hash would otherwise line up in one
 * run and make every lookup walk the window (test/hub/delivery/recent-ids.test.ts). Should a
 * run grow past {@link MAX_PROBE} anyway, the table takes new keys and is built again.
 *
 * @example
 * const recent = new RecentIds(50_000);
 * if (recent.add(message.id)) apply(message);
 */
export class RecentIds {
  /** Ring slot by id, for ids not kept as words. */
  readonly #texts = new Map<string, number>();
  /** Per ring slot: {@link EMPTY}, {@link WORDS} or {@link TEXT}. */
  #kinds: Uint8Array;
  /** Per ring slot, four words: the UUID kept there. */
  #words: Uint32Array;
  /** Per ring slot, the id kept there as a string (made when the first such id comes). */
  #textAt: Array<string | undefined> | undefined;
  /**
   * Open addressing, linear probing, at most half full: per entry a ring slot + 1 (0 where
   * empty) and its id's hash, side by side, so a probe reads one place in memory.
   */
  #table: Int32Array;
  #next = 0;
  /** The hash's keys: random, and new ones whenever a probe runs past {@link MAX_PROBE}. */
  readonly #keys: Uint32Array;
  /** Ids added since the keys last changed: new keys at most once per half a ring of adds, so rebuilding stays amortised. */
  #addsSinceRekey = 0;
  #rekeyed = 0;

  /** @param keys the hash's first keys (two words); random unless a test fixes them. */
  constructor(
    readonly limit: number,
    keys?: readonly [number, number],
  ) {
    const capacity = Math.min(Math.max(1, limit), FIRST_CAPACITY);
    this.#kinds = new Uint8Array(capacity);
    this.#words = new Uint32Array(capacity * 4);
    this.#table = new Int32Array(tableSizeFor(capacity));
    this.#keys = keys ? Uint32Array.from(keys) : randomFillSync(new Uint32Array(2));
  }

  /** How many times the table has taken new keys since it was made (a diagnostic: ids built to collide). */
  get rekeyed(): number {
    return this.#rekeyed;
  }

  /** The longest run of occupied entries in the table: what the slowest lookup walks (a diagnostic, O(table)). */
  longestRun(): number {
    const table = this.#table;
    let longest = 0;
    let run = 0;
    // Twice round, so a run that wraps past the end is counted whole.
    for (let i = 0; i < table.length; i += 2) run = table[i] !== 0 ? run + 1 : 0;
    for (let i = 0; i < table.length; i += 2) {
      run = table[i] !== 0 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    return Math.min(longest, table.length / 2);
  }

  has(id: string): boolean {
    if (uuidWords(id)) return this.#find() !== -1;
    return this.#texts.has(id);
  }

  /** Remembers `id`; false (and nothing changes) when it is remembered already: one lookup for both questions. */
  add(id: string): boolean {
    const words = uuidWords(id);
    if (words ? this.#find() !== -1 : this.#texts.has(id)) return false;
    // `scratch` still holds the words: nothing below reads another id before they are stored.
    if (this.#next === this.#kinds.length) {
      if (this.#kinds.length < this.limit) this.#grow();
      else this.#next = 0;
    }
    const slot = this.#next++;
    this.#forget(slot);
    if (words) {
      // Word by word: `set` from another typed array is a builtin's call for four numbers.
      const words = this.#words;
      words[slot * 4] = scratch[0]!;
      words[slot * 4 + 1] = scratch[1]!;
      words[slot * 4 + 2] = scratch[2]!;
      words[slot * 4 + 3] = scratch[3]!;
      this.#kinds[slot] = WORDS;
      this.#addsSinceRekey++;
      if (this.#place(slot) > MAX_PROBE && this.#addsSinceRekey * 2 > this.#kinds.length) this.#rekey();
    } else {
      const textAt = (this.#textAt ??= new Array<string | undefined>(this.#kinds.length));
      textAt[slot] = id;
      this.#kinds[slot] = TEXT;
      this.#texts.set(id, slot);
    }
    return true;
  }

  /** Forgets `id` (it was not applied after all). */
  delete(id: string): void {
    const slot = uuidWords(id) ? this.#find() : (this.#texts.get(id) ?? -1);
    if (slot !== -1) this.#forget(slot);
  }

  /** Empties `slot` of the ring, whatever it holds. */
  #forget(slot: number): void {
    const kind = this.#kinds[slot];
    if (kind === EMPTY) return;
    this.#kinds[slot] = EMPTY;
    if (kind === TEXT) {
      this.#texts.delete(this.#textAt![slot]!);
      this.#textAt![slot] = undefined;
      return;
    }
    // Backward-shift deletion: entries after the emptied one move up, so no probe ever stops short.
    const table = this.#table;
    const mask = (table.length >> 1) - 1;
    let hole = this.#entryOf(slot);
    table[hole * 2] = 0;
    for (let i = (hole + 1) & mask; table[i * 2] !== 0; i = (i + 1) & mask) {
      const home = table[i * 2 + 1]! & mask;
      // Moves up when its home is not in (hole, i], cyclically.
      if (((i - home) & mask) >= ((i - hole) & mask)) {
        table[hole * 2] = table[i * 2]!;
        table[hole * 2 + 1] = table[i * 2 + 1]!;
        table[i * 2] = 0;
        hole = i;
      }
    }
  }

  /** The ring slot holding the words in `scratch`, or -1. */
  #find(): number {
    const table = this.#table;
    const words = this.#words;
    const mask = (table.length >> 1) - 1;
    // Read by index: destructuring a typed array runs its iterator, an object a lookup (bench/round-trip).
    const w0 = scratch[0]!;
    const w1 = scratch[1]!;
    const w2 = scratch[2]!;
    const w3 = scratch[3]!;
    const h = hash(this.#keys, w0, w1, w2, w3);
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const entry = table[i * 2]!;
      if (entry === 0) return -1;
      // The hash first: the words (elsewhere in memory) are read only when it matches.
      if (table[i * 2 + 1] !== h) continue;
      const at = (entry - 1) * 4;
      if (words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3) return entry - 1;
    }
  }

  /** Where the table holds `slot` (it does). */
  #entryOf(slot: number): number {
    const table = this.#table;
    const mask = (table.length >> 1) - 1;
    let i = this.#hashOf(slot) & mask;
    while (table[i * 2] !== slot + 1) i = (i + 1) & mask;
    return i;
  }

  /** The hash of the words of `slot`. */
  #hashOf(slot: number): number {
    const words = this.#words;
    const at = slot * 4;
    return hash(this.#keys, words[at]!, words[at + 1]!, words[at + 2]!, words[at + 3]!);
  }

  /** Puts `slot` in the table; how many entries it walked past to find room. */
  #place(slot: number): number {
    const table = this.#table;
    const mask = (table.length >> 1) - 1;
    const h = this.#hashOf(slot);
    let i = h & mask;
    let walked = 0;
    while (table[i * 2] !== 0) {
      i = (i + 1) & mask;
      walked++;
    }
    table[i * 2] = slot + 1;
    table[i * 2 + 1] = h;
    return walked;
  }

  /** New random keys, and the table built again under them. */
  #rekey(): void {
    randomFillSync(this.#keys);
    this.#rekeyed++;
    this.#addsSinceRekey = 0;
    this.#table.fill(0);
    for (let slot = 0; slot < this.#kinds.length; slot++) if (this.#kinds[slot] === WORDS) this.#place(slot);
  }

  /** Doubles the ring (up to `limit`); it is full and in order, so slots keep their places. */
  #grow(): void {
    const capacity = Math.min(this.limit, this.#kinds.length * 2);
    const kinds = new Uint8Array(capacity);
    kinds.set(this.#kinds);
    const words = new Uint32Array(capacity * 4);
    words.set(this.#words);
    this.#kinds = kinds;
    this.#words = words;
    if (this.#textAt) this.#textAt.length = capacity;
    this.#table = new Int32Array(tableSizeFor(capacity));
    for (let slot = 0; slot < this.#next; slot++) if (kinds[slot] === WORDS) this.#place(slot);
  }
}

/** A power of two at least twice `capacity`: probes stay short. */
function tableSizeFor(capacity: number): number {
  let size = 2;
  while (size < capacity * 2) size *= 2;
  // Two numbers an entry.
  return size * 2;
}

/**
 * Mixes all four words (a time-ordered UUID, v1 or v7, has few distinct bits in any one) with
 * the two keys, the second after the last word: without them the last word could be solved for
 * any hash wanted.
 */
function hash(keys: Uint32Array, w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ keys[0]!, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w2, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w3, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ keys[1]!, 0x85ebca6b);
  return (h ^ (h >>> 13)) | 0;
}

/** Per character code below 128: its value as a lowercase hex digit, or {@link NOT_HEX}. */
const HEX_VALUE = new Uint8Array(128).fill(0xff);
/** A bit no digit's value has: OR-ed over an id's digits, it says whether one was not a digit. */
const NOT_HEX = 0xf0;
for (let c = 0; c < 10; c++) HEX_VALUE[48 + c] = c;
for (let c = 0; c < 6; c++) HEX_VALUE[97 + c] = 10 + c;

/**
 * Reads `id` into {@link scratch} when it is a UUID spelled as `randomUUID()` spells it
 * (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hex): false for anything else, an
 * uppercase spelling included, so the words stand for that one string only.
 */
function uuidWords(id: string): boolean {
  if (id.length !== 36) return false;
  if (id.charCodeAt(8) !== 45 || id.charCodeAt(13) !== 45 || id.charCodeAt(18) !== 45 || id.charCodeAt(23) !== 45) return false;
  // One pass over the digits in 32-bit integers: no number too large for a small integer, which
  // optimised code would box when a helper returns it.
  let bad = 0;
  let word = 0;
  for (let i = 0, w = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) continue;
    const code = id.charCodeAt(i);
    const digit = code < 128 ? HEX_VALUE[code]! : NOT_HEX;
    bad |= digit;
    word = (word << 4) | (digit & 0xf);
    // Eight digits a word: the words end after digits 8, 16, 24 and 32.
    if ((++w & 7) === 0) scratch[(w >> 3) - 1] = word;
  }
  return (bad & NOT_HEX) === 0;
}
