const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** Where a recorded value and a replayed one first differ. */
export interface Mismatch {
  /** Dotted path inside the entry (`frame.payload.status`); `''` for the entry itself. */
  path: string;
  expected: unknown;
  actual: unknown;
}

/**
 * The ids a connector makes up (message ids, edit ids, idempotency keys: random UUIDs) differ
 * between a recording and its replay. The first time a recorded id meets a replayed one in the
 * same place, they are paired; from then on the pair must hold both ways, and inbound frames
 * that name the recorded id are given the replayed one.
 */
export class IdPairs {
  readonly #toActual = new Map<string, string>();
  readonly #toRecorded = new Map<string, string>();

  /** Pairs two ids, or says whether an existing pairing agrees. */
  pair(recorded: string, actual: string): boolean {
    const known = this.#toActual.get(recorded);
    const back = this.#toRecorded.get(actual);
    if (known === undefined && back === undefined) {
      this.#toActual.set(recorded, actual);
      this.#toRecorded.set(actual, recorded);
      return true;
    }
    return known === actual && back === recorded;
  }

  /** A copy to try a comparison on; {@link adopt} it when the comparison holds. */
  fork(): IdPairs {
    const copy = new IdPairs();
    for (const [recorded, actual] of this.#toActual) copy.pair(recorded, actual);
    return copy;
  }

  /** Takes the pairings of a fork. */
  adopt(fork: IdPairs): void {
    for (const [recorded, actual] of fork.#toActual) this.pair(recorded, actual);
  }

  /** Rewrites the recorded ids in a text (an inbound frame) to their replayed pairs. */
  translate(text: string): string {
    if (this.#toActual.size === 0) return text;
    return text.replace(UUID, (id) => this.#toActual.get(id) ?? id);
  }

  /** Rewrites the recorded ids in any JSON value. */
  translateValue<T>(value: T): T {
    if (value === undefined || this.#toActual.size === 0) return value;
    return JSON.parse(this.translate(JSON.stringify(value))) as T;
  }
}

/**
 * Compares a recorded value with a replayed one. Equal when they are deeply equal, except that:
 * made-up ids may differ if they pair consistently ({@link IdPairs}), and fields named in
 * `ignore` (a key such as `ts`, or a dotted path suffix such as `runtime.version`) are skipped:
 * they measure time or name the library version, which a replay does not reproduce.
 */
export function compareValues(
  expected: unknown,
  actual: unknown,
  ids: IdPairs,
  ignore: readonly string[],
  path = '',
): Mismatch | undefined {
  if (ignored(path, ignore)) return undefined;
  if (typeof expected === 'string' && typeof actual === 'string')
    return sameWithIds(expected, actual, ids) ? undefined : { path, expected, actual };
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length) return { path, expected, actual };
    for (let i = 0; i < expected.length; i++) {
      const inner = compareValues(expected[i], actual[i], ids, ignore, join(path, String(i)));
      if (inner) return inner;
    }
    return undefined;
  }
  if (isObject(expected) && isObject(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const key of keys) {
      const inner = compareValues(expected[key], actual[key], ids, ignore, join(path, key));
      if (inner) return inner;
    }
    return undefined;
  }
  return Object.is(expected, actual) ? undefined : { path, expected, actual };
}

function sameWithIds(expected: string, actual: string, ids: IdPairs): boolean {
  if (expected === actual) return true;
  const recordedIds = expected.match(UUID) ?? [];
  const actualIds = actual.match(UUID) ?? [];
  if (recordedIds.length === 0 || recordedIds.length !== actualIds.length) return false;
  if (expected.replace(UUID, '#') !== actual.replace(UUID, '#')) return false;
  return recordedIds.every((id, i) => ids.pair(id, actualIds[i]!));
}

function ignored(path: string, ignore: readonly string[]): boolean {
  if (path === '') return false;
  const key = path.slice(path.lastIndexOf('.') + 1);
  return ignore.some((rule) => (rule.includes('.') ? path === rule || path.endsWith(`.${rule}`) : key === rule));
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
