import { stringHash } from './string-hash.ts';

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

  get size(): number {
    return this.#size;
  }

  has(key: string): boolean {
    return this.#keys[this.#find(key, stringHash(key))] !== undefined;
  }

  get(key: string): T | undefined {
    return this.#values[this.#find(key, stringHash(key))];
  }

  /** Sets `key` to `value` (undefined is not a value here: `get` could not tell it from none). */
  set(key: string, value: T): void {
    const hash = stringHash(key);
    const at = this.#find(key, hash);
    if (this.#keys[at] === undefined) {
      this.#keys[at] = key;
      this.#hashes[at] = hash;
      this.#size++;
    }
    this.#values[at] = value;
    if (this.#size * 2 > this.#keys.length) this.#grow();
  }

  delete(key: string): boolean {
    const at = this.#find(key, stringHash(key));
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

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    const hashes = this.#hashes;
    const capacity = keys.length * 2;
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
