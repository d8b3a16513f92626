import { HashKeys, longestRun, stringHash } from './string-hash.ts';

const FIRST_CAPACITY = 16;

/**
 * A map from strings to values for keys that come and go all the time (one per execution):
 * open addressing in arrays that are replaced only to grow.
 *
 * A `Map` that takes and drops an entry per execution replaces its hash table every few hundred
 * operations, and V8 links each replaced table to its successor (for iterators still open). Once
 * one table has lived long enough to be promoted, it dies old and keeps its successor, and every
 * value in both, alive through each scavenge until the next full collection: the chain goes on,
 * and every value the map ever held is promoted (docs/performance.md, "What held each run until
 * the next scavenge"; there, on the device). Here a deleted entry's slots are cleared, and
 * nothing else points at the values.
 *
 * Keys are ids peers choose, so the hash is keyed with random words of this table's own; should
 * a probe run past `MAX_PROBE` anyway ({@link HashKeys}), the table takes new keys and is built
 * again.
 *
 * @example
 * const records = new StringTable<Tracked>();
 * records.set('req_1', tracked);
 * records.get('req_1'); // tracked
 * records.delete('req_1');
 */
export class StringTable<T> {
  /** Open addressing, linear probing, at most half full; a key's slot holds its value. */
  #keys: Array<string | undefined> = new Array<string | undefined>(FIRST_CAPACITY).fill(undefined);
  #values: Array<T | undefined> = new Array<T | undefined>(FIRST_CAPACITY).fill(undefined);
  #hashes = new Int32Array(FIRST_CAPACITY);
  #size = 0;
  /** The hash's keys, and new ones whenever a probe runs past `MAX_PROBE`. */
  readonly #hashKeys: HashKeys;

  /** @param keys the hash's first keys (two words); random unless a test fixes them. */
  constructor(keys?: readonly [number, number]) {
    this.#hashKeys = new HashKeys(keys);
  }

  get size(): number {
    return this.#size;
  }

  /** How many times the table has taken new keys since it was made (a diagnostic: keys built to collide). */
  get rekeyed(): number {
    return this.#hashKeys.rekeyed;
  }

  /** The longest run of occupied slots: what the slowest lookup walks (a diagnostic, O(table)). */
  longestRun(): number {
    return longestRun(this.#keys.length, (at) => this.#keys[at] !== undefined);
  }

  has(key: string): boolean {
    return this.#keys[this.#find(key, stringHash(key, this.#hashKeys.words))] !== undefined;
  }

  get(key: string): T | undefined {
    return this.#values[this.#find(key, stringHash(key, this.#hashKeys.words))];
  }

  /** Sets `key` to `value` (undefined is not a value here: `get` could not tell it from none). */
  set(key: string, value: T): void {
    const hash = stringHash(key, this.#hashKeys.words);
    const at = this.#find(key, hash);
    this.#values[at] = value;
    if (this.#keys[at] !== undefined) return;
    this.#keys[at] = key;
    this.#hashes[at] = hash;
    this.#size++;
    const walked = (at - hash) & (this.#keys.length - 1);
    if (this.#size * 2 > this.#keys.length) this.#rebuild(this.#keys.length * 2);
    if (this.#hashKeys.rekeyAfterAdd(walked, this.#keys.length)) this.#rehash();
  }

  delete(key: string): boolean {
    const at = this.#find(key, stringHash(key, this.#hashKeys.words));
    if (this.#keys[at] === undefined) return false;
    this.#remove(at);
    this.#size--;
    return true;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  #find(key: string, hash: number): number {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let at = hash & mask;
    for (let held = keys[at]; held !== undefined; held = keys[(at = (at + 1) & mask)]) {
      if (this.#hashes[at] === hash && held === key) return at;
    }
    return at;
  }

  /** Empties slot `at`, moving back the entries after it that probing would no longer reach. */
  #remove(at: number): void {
    const keys = this.#keys;
    const values = this.#values;
    const hashes = this.#hashes;
    const mask = keys.length - 1;
    let hole = at;
    for (let next = (hole + 1) & mask; keys[next] !== undefined; next = (next + 1) & mask) {
      const home = hashes[next]! & mask;
      // It stays where it is if its home lies cyclically after the hole, up to where it sits.
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      keys[hole] = keys[next];
      values[hole] = values[next];
      hashes[hole] = hashes[next]!;
      hole = next;
    }
    keys[hole] = undefined;
    values[hole] = undefined;
  }

  /** The table built again under the hash's new keys. */
  #rehash(): void {
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) this.#hashes[i] = stringHash(keys[i]!, this.#hashKeys.words);
    this.#rebuild(keys.length);
  }

  /** Puts every entry again into new arrays of `capacity` slots, by the hashes it holds. */
  #rebuild(capacity: number): void {
    const keys = this.#keys;
    const values = this.#values;
    const hashes = this.#hashes;
    this.#keys = new Array<string | undefined>(capacity).fill(undefined);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
    this.#hashes = new Int32Array(capacity);
    const mask = capacity - 1;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === undefined) continue;
      let at = hashes[i]! & mask;
      while (this.#keys[at] !== undefined) at = (at + 1) & mask;
      this.#keys[at] = keys[i];
      this.#values[at] = values[i];
      this.#hashes[at] = hashes[i]!;
    }
  }
}
