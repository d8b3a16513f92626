/** The typed arrays a ring of slots is kept in. */
type RingArray = Uint8Array | Int32Array | Uint32Array | Float64Array;

/**
 * A ring of `fields` numbers per slot, where ticket `t` is in slot `t & (slots - 1)`, copied into
 * one of twice as many slots: the live tickets, `first` to `next - 1`, each where the larger mask
 * puts it. The off-heap tables keep their entries in such rings, each field in its own array
 * (src/hub/delivery/finished-records.ts, src/execution/seen-requests.ts).
 *
 * @example
 * this.#hashes = grownRing(this.#hashes, 1, this.#first, this.#next);
 * this.#starts = grownRing(this.#starts, 2, this.#first, this.#next); // two fields a slot
 */
export function grownRing<T extends RingArray>(ring: T, fields: number, first: number, next: number): T {
  const slots = ring.length / fields;
  const grown = new (ring.constructor as new (length: number) => T)(ring.length * 2);
  const oldMask = slots - 1;
  const mask = 2 * slots - 1;
  // `&` keeps a ticket's low bits past 2^31 too (tickets count every entry ever added).
  for (let ticket = first; ticket < next; ticket++) {
    const from = (ticket & oldMask) * fields;
    const to = (ticket & mask) * fields;
    for (let field = 0; field < fields; field++) grown[to + field] = ring[from + field]!;
  }
  return grown;
}
