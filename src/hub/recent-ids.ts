/**
 * A bounded set of recent ids, oldest forgotten first: what makes a resend harmless without
 * remembering every id ever seen.
 *
 * @example
 * const recent = new RecentIds(50_000);
 * if (!recent.has(message.id)) { recent.add(message.id); apply(message); }
 */
export class RecentIds {
  readonly #ids = new Set<string>();
  constructor(readonly limit: number) {}
  has(id: string): boolean {
    return this.#ids.has(id);
  }
  add(id: string): void {
    this.#ids.add(id);
    if (this.#ids.size > this.limit) this.#ids.delete(this.#ids.values().next().value!);
  }
  delete(id: string): void {
    this.#ids.delete(id);
  }
}
