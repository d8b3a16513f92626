/**
 * Values by sequence number, for numbers that mostly grow and leave from the front (an outbox's
 * frames until the hub acknowledges them): an array from the lowest number held.
 *
 * Not a Map, for the garbage collector's sake: a Map that takes and drops an entry per message
 * replaces its hash table every few messages, and V8 links each replaced table to its successor.
 * Once one table had reached the old generation, it kept every later table, and every value in
 * them, alive through the scavenges until a full collection (docs/performance.md).
 *
 * @example
 * const frames = new SeqSlots<string>();
 * frames.set(7, '{"seq":7}');
 * frames.set(8, '{"seq":8}');
 * frames.deleteUpTo(7); // the hub acknowledged 7
 * frames.get(8);        // '{"seq":8}'
 */
export class SeqSlots<T> {
  /** The sequence number of `#slots[0]`. */
  #base = 0;
  readonly #slots: Array<T | undefined> = [];

  /** How many numbers the slots span, held or not (for tests). */
  get span(): number {
    return this.#slots.length;
  }

  get(seq: number): T | undefined {
    const index = seq - this.#base;
    return index >= 0 && index < this.#slots.length ? this.#slots[index] : undefined;
  }

  set(seq: number, value: T): void {
    if (this.#slots.length === 0) this.#base = seq;
    else if (seq < this.#base) {
      this.#slots.unshift(...Array.from({ length: this.#base - seq }, () => undefined));
      this.#base = seq;
    }
    const index = seq - this.#base;
    while (this.#slots.length < index) this.#slots.push(undefined);
    this.#slots[index] = value;
  }

  delete(seq: number): void {
    const index = seq - this.#base;
    if (index < 0 || index >= this.#slots.length) return;
    this.#slots[index] = undefined;
    this.#trim();
  }

  /** Drops every value numbered `seq` or lower. */
  deleteUpTo(seq: number): void {
    const count = Math.min(this.#slots.length, seq - this.#base + 1);
    if (count > 0) {
      this.#slots.splice(0, count);
      this.#base += count;
    }
    this.#trim();
  }

  /** Empty slots at either end go: the array spans only what is held. */
  #trim(): void {
    let front = 0;
    while (front < this.#slots.length && this.#slots[front] === undefined) front++;
    if (front > 0) {
      this.#slots.splice(0, front);
      this.#base += front;
    }
    while (this.#slots.length > 0 && this.#slots[this.#slots.length - 1] === undefined) this.#slots.pop();
  }
}
