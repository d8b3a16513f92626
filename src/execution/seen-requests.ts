import type { Built } from '../protocol/built-messages.ts';

/** A finished execution's stored end: what a redelivery of its request gets again, under the same ids. */
export interface StoredOutcome {
  terminal: Built<'execution_event'>;
  usage: Built<'usage_report'>;
}

/** What the executor remembers of a request it has seen. */
export type SeenState = 'active' | 'known' | 'ended';

/** The state of a request running or queued: not forgettable. */
const ACTIVE = -1;

/** What a forgettable entry holds. */
const KNOWN = 0;
/** Its outcome's two frames, in {@link SeenRequests}'s byte arena. */
const FRAMED = 1;
/** Its outcome's messages, until their frames are known (an end that waited for storage). */
const UNFRAMED = 2;

/** Bytes the arena starts with; it grows with what it holds. */
const INITIAL_ARENA_BYTES = 64 * 1024;
const INITIAL_SLOTS = 64;

/**
 * The requests an executor has seen, by request id: running or queued (`active`), known from the
 * outbox after a restart (`known`), or finished with a stored outcome (`ended`). Entries that are
 * not active are forgotten oldest first once more than `limit` requests are remembered.
 *
 * A device remembers thousands of finished executions (`retainOutcomes`), each kept from its end
 * until thousands more have ended: every one of them outlives the scavenges in between, so what
 * it is made of is copied into the old generation and marked there until it is forgotten. As
 * objects (the terminal event, the usage report, their ids and data, a map entry's value) that
 * was most of what the device promoted per scavenge (bench/round-trip, docs/performance.md). So
 * the outcome is kept as the two frames the outbox made for it, copied as UTF-8 into one
 * `Buffer` (outside the JS heap), and the map holds only small integers; what stays on the heap
 * per finished execution is its request id, the map's key. A redelivery, which is rare, parses
 * the frames back.
 *
 * @example
 * const seen = new SeenRequests(10_000);
 * seen.activate('req_1');
 * seen.end('req_1', terminal, usage, terminalFrame, usageFrame);
 * seen.state('req_1');   // 'ended'
 * seen.outcome('req_1'); // { terminal, usage }, equal as JSON to what was stored
 */
export class SeenRequests {
  readonly #limit: number;
  /** By request id: {@link ACTIVE}, or the ticket of the forgettable entry. Small integers only. */
  readonly #tickets = new Map<string, number>();
  /** Forgettable entries, numbered in the order they came: tickets `#first` to `#next - 1`, in rings indexed by `ticket & mask`. */
  #first = 0;
  #next = 0;
  #ids: Array<string | undefined> = new Array<string | undefined>(INITIAL_SLOTS).fill(undefined);
  #kinds = new Uint8Array(INITIAL_SLOTS);
  /** Where each framed outcome's bytes start, as a position in every byte the arena was given. */
  #starts = new Float64Array(INITIAL_SLOTS);
  /** The byte lengths of each framed outcome's two frames: terminal at `2 * slot`, usage at `2 * slot + 1`. */
  #lengths = new Uint32Array(2 * INITIAL_SLOTS);
  /** Outcomes not framed yet, by ticket: a rare path (an end that waited for a failing store). */
  readonly #unframed = new Map<number, StoredOutcome>();
  #arena = Buffer.allocUnsafe(INITIAL_ARENA_BYTES);
  /** The position (in every byte given) of `#arena[0]`, and of the next byte to write. */
  #arenaBase = 0;
  #arenaEnd = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Requests remembered, active ones included. */
  get size(): number {
    return this.#tickets.size;
  }

  /** Bytes of the arena the outcomes' frames are kept in (for tests). */
  get arenaBytes(): number {
    return this.#arena.length;
  }

  state(requestId: string): SeenState | undefined {
    const ticket = this.#tickets.get(requestId);
    if (ticket === undefined) return undefined;
    if (ticket === ACTIVE) return 'active';
    return this.#kinds[ticket & this.#mask] === KNOWN ? 'known' : 'ended';
  }

  /** A request taken: running or queued. */
  activate(requestId: string): void {
    this.#tickets.set(requestId, ACTIVE);
  }

  /** Known from the outbox after a restart: its events are on their way. */
  know(requestId: string): void {
    this.#add(requestId, KNOWN);
  }

  /**
   * A request ended with `outcome`. With the frames the outbox made of its two messages, they are
   * what is kept; without, the messages are, until {@link frame} gives them.
   */
  end(
    requestId: string,
    terminal: Built<'execution_event'>,
    usage: Built<'usage_report'>,
    terminalFrame?: string,
    usageFrame?: string,
  ): void {
    if (terminalFrame !== undefined && usageFrame !== undefined) {
      const ticket = this.#add(requestId, FRAMED);
      this.#store(ticket, terminalFrame, usageFrame);
    } else {
      const ticket = this.#add(requestId, UNFRAMED);
      this.#unframed.set(ticket, { terminal, usage });
    }
  }

  /** The frames of an outcome {@link end} kept as messages: kept instead of them from now on. */
  frame(requestId: string, terminalFrame: string, usageFrame: string): void {
    const ticket = this.#tickets.get(requestId);
    if (ticket === undefined || ticket === ACTIVE || !this.#unframed.has(ticket)) return;
    this.#unframed.delete(ticket);
    this.#kinds[ticket & this.#mask] = FRAMED;
    this.#store(ticket, terminalFrame, usageFrame);
  }

  /** A request's stored outcome, if it ended and is still remembered. */
  outcome(requestId: string): StoredOutcome | undefined {
    const ticket = this.#tickets.get(requestId);
    if (ticket === undefined || ticket === ACTIVE) return undefined;
    const slot = ticket & this.#mask;
    if (this.#kinds[slot] === UNFRAMED) return this.#unframed.get(ticket);
    if (this.#kinds[slot] !== FRAMED) return undefined;
    const start = this.#starts[slot]! - this.#arenaBase;
    const terminalBytes = this.#lengths[2 * slot]!;
    const usageBytes = this.#lengths[2 * slot + 1]!;
    return {
      terminal: unframed(this.#arena.toString('utf8', start, start + terminalBytes)) as Built<'execution_event'>,
      usage: unframed(this.#arena.toString('utf8', start + terminalBytes, start + terminalBytes + usageBytes)) as Built<'usage_report'>,
    };
  }

  /** Forgets a request (it was not taken after all: a redelivery must run it). */
  forget(requestId: string): void {
    const ticket = this.#tickets.get(requestId);
    if (ticket === undefined) return;
    this.#tickets.delete(requestId);
    this.#unframed.delete(ticket);
  }

  get #mask(): number {
    return this.#ids.length - 1;
  }

  /** A forgettable entry, newest; then the oldest go while more than the limit are remembered. */
  #add(requestId: string, kind: number): number {
    if (this.#next - this.#first === this.#ids.length) this.#growSlots();
    const ticket = this.#next++;
    const slot = ticket & this.#mask;
    this.#ids[slot] = requestId;
    this.#kinds[slot] = kind;
    this.#tickets.set(requestId, ticket);
    while (this.#tickets.size > this.#limit && this.#first < this.#next) this.#dropOldest();
    return ticket;
  }

  #dropOldest(): void {
    const ticket = this.#first++;
    const slot = ticket & this.#mask;
    const id = this.#ids[slot]!;
    this.#ids[slot] = undefined;
    // Unless it was replaced since (an end that could not be stored is run again).
    if (this.#tickets.get(id) === ticket) this.#tickets.delete(id);
    this.#unframed.delete(ticket);
  }

  #store(ticket: number, terminalFrame: string, usageFrame: string): void {
    const slot = ticket & this.#mask;
    const terminalBytes = Buffer.byteLength(terminalFrame);
    const usageBytes = Buffer.byteLength(usageFrame);
    this.#reserve(terminalBytes + usageBytes);
    const at = this.#arenaEnd - this.#arenaBase;
    this.#arena.write(terminalFrame, at, terminalBytes, 'utf8');
    this.#arena.write(usageFrame, at + terminalBytes, usageBytes, 'utf8');
    this.#starts[slot] = this.#arenaEnd;
    this.#lengths[2 * slot] = terminalBytes;
    this.#lengths[2 * slot + 1] = usageBytes;
    this.#arenaEnd += terminalBytes + usageBytes;
  }

  /**
   * Room for `bytes` more at the arena's end. Outcomes are appended and forgotten mostly oldest
   * first, so what may still be live is one run of bytes, from the earliest start of a framed
   * entry still remembered to the end: when full, that run moves to the front, into a larger
   * buffer if it would fill half. A full arena is a walk over the entries, once per arena's
   * worth of bytes written.
   */
  #reserve(bytes: number): void {
    if (this.#arenaEnd - this.#arenaBase + bytes <= this.#arena.length) return;
    let liveStart = this.#arenaEnd;
    for (let ticket = this.#first; ticket < this.#next; ticket++) {
      const slot = ticket & this.#mask;
      if (this.#kinds[slot] === FRAMED && this.#tickets.get(this.#ids[slot]!) === ticket)
        liveStart = Math.min(liveStart, this.#starts[slot]!);
    }
    const live = this.#arenaEnd - liveStart;
    const from = liveStart - this.#arenaBase;
    const needed = live + bytes;
    if (needed * 2 > this.#arena.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed * 2, this.#arena.length * 2));
      this.#arena.copy(grown, 0, from, from + live);
      this.#arena = grown;
    } else this.#arena.copyWithin(0, from, from + live);
    this.#arenaBase = liveStart;
  }

  #growSlots(): void {
    const size = this.#ids.length * 2;
    const ids = new Array<string | undefined>(size).fill(undefined);
    const kinds = new Uint8Array(size);
    const starts = new Float64Array(size);
    const lengths = new Uint32Array(2 * size);
    const oldMask = this.#mask;
    const mask = size - 1;
    for (let ticket = this.#first; ticket < this.#next; ticket++) {
      const from = ticket & oldMask;
      const to = ticket & mask;
      ids[to] = this.#ids[from];
      kinds[to] = this.#kinds[from]!;
      starts[to] = this.#starts[from]!;
      lengths[2 * to] = this.#lengths[2 * from]!;
      lengths[2 * to + 1] = this.#lengths[2 * from + 1]!;
    }
    this.#ids = ids;
    this.#kinds = kinds;
    this.#starts = starts;
    this.#lengths = lengths;
  }
}

/** A message back from its outbox frame: without the frame's sequence number and version, which its next append sets again. */
function unframed(frame: string): object {
  const { seq: _seq, v: _v, ...message } = JSON.parse(frame) as Record<string, unknown>;
  return message;
}
