/**
 * Names numbered in the order they are first met, and back: what an off-heap form writes in place
 * of a name many entries share (a device id, a status), as a small integer.
 *
 * @example
 * const names = new NameNumbers(1_024);
 * names.numberOf('laptop-1'); // 0
 * names.nameOf(0);            // 'laptop-1'
 */
export class NameNumbers {
  readonly #names: string[] = [];
  readonly #numbers = new Map<string, number>();
  readonly #limit: number;

  /** Numbers at most `limit` names: past it, a new name gets none (its form writes it out). */
  constructor(limit = Number.POSITIVE_INFINITY) {
    this.#limit = limit;
  }

  /** The number of `name`, given one if it is new and there is room; undefined otherwise. */
  numberOf(name: string): number | undefined {
    let number = this.#numbers.get(name);
    if (number === undefined && this.#names.length < this.#limit) {
      number = this.#names.push(name) - 1;
      this.#numbers.set(name, number);
    }
    return number;
  }

  /** The name numbered `number` (one {@link numberOf} gave). */
  nameOf(number: number): string {
    return this.#names[number]!;
  }
}
