import { randomFillSync } from 'node:crypto';
import { afterHeldWrites } from '../adapters/write-batch.ts';
import type { Built } from '../protocol/built-messages.ts';
import { grownRing } from '../util/grown-ring.ts';

/** A finished execution's stored end: what a redelivery of its request gets again, under the same ids. */
export interface StoredOutcome {
  terminal: Built<'execution_event'>;
  usage: Built<'usage_report'>;
}

/** What the executor remembers of a request it has seen. */
export type SeenState = 'active' | 'known' | 'ended';

/** What a forgettable entry holds: its request id's bytes only (known from the outbox after a restart). */
const KNOWN = 0;
/** Its id's bytes, then its outcome's two frames. */
const FRAMED = 1;
/** Its id's bytes; its outcome's messages are in `#unframed` until their frames are known (an end that waited for storage). */
const UNFRAMED = 2;
/** No longer remembered (forgotten, or remembered again under a newer ticket): its bytes are free. */
const DEAD = 3;
/** Its id's bytes; its outcome's frames are held as strings in `#held` until {@link SeenRequests.flush} copies them after them. */
const HELD = 4;

/**
 * Outcomes held before a flush, at most: past it {@link SeenRequests.end} flushes at once, so a
 * burst of ends in one turn holds a few hundred kilobytes of strings, not every outcome.
 */
const MAX_HELD = 256;

// Small: an idle connector pays for what it remembers only.
const INITIAL_ARENA_BYTES = 1_024;
const INITIAL_SLOTS = 16;
const INITIAL_INDEX = 32;

/**
 * An outcome's frames waiting for their copy into the arena. A class, not an object literal, for
 * the reason the executor's runs are one (src/execution/executor.ts): born young, dead by the next scavenge.
 */
class HeldFrames {
  constructor(
    readonly ticket: number,
    readonly requestId: string,
    readonly terminalFrame: string,
    readonly usageFrame: string,
  ) {}
}

/**
 * The requests an executor has seen, by request id: running or queued (`active`), known from the
 * outbox after a restart (`known`), or finished with a stored outcome (`ended`). Entries that are
 * not active are forgotten oldest first once more than `limit` requests are remembered.
 *
 * A device remembers thousands of finished executions (`retainOutcomes`), each from its end until
 * thousands more have ended: everything it is kept as outlives the scavenges in between, is
 * copied into the old generation and marked there until it is forgotten. Kept as objects (the
 * terminal event, the usage report, their ids and data, a Map's key, value and hash tables) that
 * was most of what the device promoted per scavenge (bench/round-trip, docs/performance.md). So
 * nothing of a forgettable entry is on the JS heap: its request id and the two frames the outbox
 * made of its outcome are copied as UTF-8 into one `Buffer`, and it is found by a hash table of
 * integers in typed arrays. A redelivery, which is rare, parses the frames back. Active requests
 * (few, and short-lived) are kept as strings.
 *
 * An ended request's frames are copied into the arena at the end of the turn ({@link flush}),
 * not when it ends: the copy, 600 bytes of UTF-8 into memory the cache has not seen for thousands
 * of executions, was the largest part of the executor's own work between reading a request and
 * writing its events (bench/round-trip, docs/performance.md). It runs right after the turn's
 * write (`afterHeldWrites`, src/adapters/write-batch.ts), in the write's own `setImmediate`: the
 * events leave first, and the copy costs no callback of its own. Until then the frames are held
 * as strings and answer {@link state} and {@link outcome} as the arena would.
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
  /** Requests remembered: active ones and forgettable ones. */
  #count = 0;
  /**
   * Open addressing, linear probing: 0 is an empty cell, `t + 1` the forgettable entry of ticket
   * `t`, `-(k + 1)` the active request in `#active[k]`. At most half full. Doubles: tickets
   * count every execution a device ever ended, past 2^31 in a few days at 10,000 a second.
   */
  #index = new Float64Array(INITIAL_INDEX);
  /** Active requests' ids and hashes by slot; free slots are listed in `#freeActive`. */
  readonly #active: Array<string | undefined> = [];
  readonly #activeHashes: number[] = [];
  readonly #freeActive: number[] = [];
  /** Forgettable entries, numbered in the order they came: tickets `#first` to `#next - 1`, in rings indexed by `ticket & mask`. */
  #first = 0;
  #next = 0;
  #kinds = new Uint8Array(INITIAL_SLOTS);
  #hashes = new Int32Array(INITIAL_SLOTS);
  /** Where each entry's bytes start, as a position in every byte the arena was given. */
  #starts = new Float64Array(INITIAL_SLOTS);
  /** Byte lengths per entry: its id at `3 * slot`, its terminal frame at `+ 1`, its usage frame at `+ 2`. */
  #lengths = new Uint32Array(3 * INITIAL_SLOTS);
  /** Outcomes not framed yet, by ticket: a rare path. */
  readonly #unframed = new Map<number, StoredOutcome>();
  #arena = Buffer.allocUnsafe(INITIAL_ARENA_BYTES);
  /** The position (in every byte given) of `#arena[0]`, and of the next byte to write. */
  #arenaBase = 0;
  #arenaEnd = 0;
  /** Where an id being looked up is encoded, to compare it with one in the arena. */
  #scratch = Buffer.allocUnsafe(256);
  /** Frames of `HELD` entries, in ticket order; an entry forgotten meanwhile is skipped by the flush. */
  #held: HeldFrames[] = [];
  #flushScheduled = false;
  readonly #scheduledFlush = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Requests remembered, active ones included. */
  get size(): number {
    return this.#count;
  }

  /** Bytes of the arena the entries are kept in: a diagnostic, what the tests hold bounded. */
  get arenaBytes(): number {
    return this.#arena.length;
  }

  /** Outcomes whose frames are held as strings, waiting for the flush: a diagnostic, what the tests hold bounded. */
  get heldOutcomes(): number {
    return this.#held.length;
  }

  /** Where `requestId` stands: `active` (running or queued), `ended` (its outcome kept), `known`, or undefined when not remembered. */
  state(requestId: string): SeenState | undefined {
    const cell = this.#index[this.#find(requestId, hashOf(requestId))]!;
    if (cell === 0) return undefined;
    if (cell < 0) return 'active';
    return this.#kinds[(cell - 1) & this.#mask] === KNOWN ? 'known' : 'ended';
  }

  /** A request taken: running or queued. */
  activate(requestId: string): void {
    const hash = hashOf(requestId);
    const k = this.#freeActive.pop() ?? this.#active.length;
    this.#active[k] = requestId;
    this.#activeHashes[k] = hash;
    this.#put(requestId, hash, -(k + 1));
  }

  /** Known from the outbox after a restart: its events are on their way. */
  know(requestId: string): void {
    this.#add(requestId, KNOWN);
  }

  /**
   * A request ended with this outcome. With the frames the outbox made of its two messages, they
   * are what is kept; without, the messages are, until {@link frame} gives the frames.
   */
  end(
    requestId: string,
    terminal: Built<'execution_event'>,
    usage: Built<'usage_report'>,
    terminalFrame?: string,
    usageFrame?: string,
  ): void {
    if (terminalFrame === undefined || usageFrame === undefined) {
      this.#unframed.set(this.#add(requestId, UNFRAMED), { terminal, usage });
      return;
    }
    if (this.#held.length >= MAX_HELD) this.flush();
    this.#held.push(new HeldFrames(this.#add(requestId, HELD), requestId, terminalFrame, usageFrame));
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      afterHeldWrites(this.#scheduledFlush);
    }
  }

  /**
   * Copies the frames of the outcomes {@link end} holds as strings into the arena, after their
   * ids: what is remembered does not change. Runs by itself at the end of the turn, after its write.
   */
  flush(): void {
    const held = this.#held;
    if (held.length === 0) return;
    this.#held = [];
    for (const { ticket, requestId, terminalFrame, usageFrame } of held) {
      // Forgotten meanwhile (dropped as the oldest, or forgotten): its slot may be another's.
      if (ticket < this.#first || this.#kinds[ticket & this.#mask] !== HELD) continue;
      this.#write(ticket, requestId, terminalFrame, usageFrame);
      this.#kinds[ticket & this.#mask] = FRAMED;
    }
  }

  /** The frames of an outcome {@link end} kept as messages: kept instead of them from now on. */
  frame(requestId: string, terminalFrame: string, usageFrame: string): void {
    const cell = this.#index[this.#find(requestId, hashOf(requestId))]!;
    if (cell <= 0 || this.#kinds[(cell - 1) & this.#mask] !== UNFRAMED) return;
    // Written anew, under the same ticket: an outcome's bytes follow its id's.
    const ticket = cell - 1;
    this.#unframed.delete(ticket);
    this.#kinds[ticket & this.#mask] = FRAMED;
    this.#write(ticket, requestId, terminalFrame, usageFrame);
  }

  /** A request's stored outcome, if it ended and is still remembered. */
  outcome(requestId: string): StoredOutcome | undefined {
    const cell = this.#index[this.#find(requestId, hashOf(requestId))]!;
    if (cell <= 0) return undefined;
    const ticket = cell - 1;
    const slot = ticket & this.#mask;
    if (this.#kinds[slot] === UNFRAMED) return this.#unframed.get(ticket);
    if (this.#kinds[slot] === HELD) {
      const held = this.#held.find((entry) => entry.ticket === ticket)!;
      return {
        terminal: unframed(held.terminalFrame) as Built<'execution_event'>,
        usage: unframed(held.usageFrame) as Built<'usage_report'>,
      };
    }
    if (this.#kinds[slot] !== FRAMED) return undefined;
    const start = this.#starts[slot]! - this.#arenaBase + this.#lengths[3 * slot]!;
    const end = start + this.#lengths[3 * slot + 1]!;
    return {
      terminal: unframed(this.#arena.toString('utf8', start, end)) as Built<'execution_event'>,
      usage: unframed(this.#arena.toString('utf8', end, end + this.#lengths[3 * slot + 2]!)) as Built<'usage_report'>,
    };
  }

  /** Forgets a request (it was not taken after all: a redelivery must run it). */
  forget(requestId: string): void {
    const at = this.#find(requestId, hashOf(requestId));
    const cell = this.#index[at]!;
    if (cell === 0) return;
    this.#release(cell);
    this.#remove(at);
  }

  get #mask(): number {
    return this.#kinds.length - 1;
  }

  /** A forgettable entry, newest; then the oldest go while more than the limit are remembered. */
  #add(requestId: string, kind: number, terminalFrame = '', usageFrame = ''): number {
    if (this.#next - this.#first === this.#kinds.length) this.#growSlots();
    const ticket = this.#next++;
    const slot = ticket & this.#mask;
    const hash = hashOf(requestId);
    // Not live until written: the arena's compaction must not read the slot's previous start.
    this.#kinds[slot] = DEAD;
    this.#write(ticket, requestId, terminalFrame, usageFrame);
    this.#kinds[slot] = kind;
    this.#hashes[slot] = hash;
    this.#put(requestId, hash, ticket + 1);
    while (this.#count > this.#limit && this.#first < this.#next) this.#dropOldest();
    return ticket;
  }

  #dropOldest(): void {
    const ticket = this.#first++;
    const slot = ticket & this.#mask;
    if (this.#kinds[slot] === DEAD) return;
    this.#kinds[slot] = DEAD;
    this.#unframed.delete(ticket);
    // Its cell: the one on its hash's probe path that holds its ticket.
    const mask = this.#index.length - 1;
    for (let at = this.#hashes[slot]! & mask; this.#index[at] !== 0; at = (at + 1) & mask) {
      if (this.#index[at] === ticket + 1) {
        this.#remove(at);
        return;
      }
    }
  }

  /** Where `requestId` is in the index, or the empty cell where it would go. */
  #find(requestId: string, hash: number): number {
    const index = this.#index;
    const mask = index.length - 1;
    let at = hash & mask;
    for (let cell = index[at]!; cell !== 0; cell = index[(at = (at + 1) & mask)]!) {
      if (cell < 0) {
        if (this.#active[-cell - 1] === requestId) return at;
      } else {
        const slot = (cell - 1) & this.#mask;
        if (this.#hashes[slot] === hash && this.#idAt(slot, requestId)) return at;
      }
    }
    return at;
  }

  /** Whether the id stored for `slot` is `requestId`. */
  #idAt(slot: number, requestId: string): boolean {
    const bytes = this.#lengths[3 * slot]!;
    if (this.#scratch.length < 4 * requestId.length) this.#scratch = Buffer.allocUnsafe(4 * requestId.length);
    if (this.#scratch.write(requestId, 0, 'utf8') !== bytes) return false;
    const start = this.#starts[slot]! - this.#arenaBase;
    return this.#scratch.compare(this.#arena, start, start + bytes, 0, bytes) === 0;
  }

  /** Sets `requestId`'s cell to `value`: what it held before is let go of. */
  #put(requestId: string, hash: number, value: number): void {
    const at = this.#find(requestId, hash);
    const cell = this.#index[at]!;
    if (cell !== 0) {
      this.#release(cell);
      this.#index[at] = value;
      return;
    }
    this.#index[at] = value;
    this.#count += 1;
    if (2 * this.#count > this.#index.length) this.#growIndex();
  }

  /** What a cell pointed at is no longer remembered under it. */
  #release(cell: number): void {
    if (cell < 0) {
      const k = -cell - 1;
      this.#active[k] = undefined;
      this.#freeActive.push(k);
    } else {
      this.#kinds[(cell - 1) & this.#mask] = DEAD;
      this.#unframed.delete(cell - 1);
    }
  }

  #hashOfCell(cell: number): number {
    return cell < 0 ? this.#activeHashes[-cell - 1]! : this.#hashes[(cell - 1) & this.#mask]!;
  }

  /** Empties cell `at`, moving back the cells after it that probing would no longer reach. */
  #remove(at: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let hole = at;
    for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const home = this.#hashOfCell(index[next]!) & mask;
      // It stays where it is if its home lies cyclically after the hole, up to where it sits.
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      index[hole] = index[next]!;
      hole = next;
    }
    index[hole] = 0;
    this.#count -= 1;
  }

  #growIndex(): void {
    const old = this.#index;
    const index = new Float64Array(old.length * 2);
    const mask = index.length - 1;
    for (const cell of old) {
      if (cell === 0) continue;
      let at = this.#hashOfCell(cell) & mask;
      while (index[at] !== 0) at = (at + 1) & mask;
      index[at] = cell;
    }
    this.#index = index;
  }

  /** The entry's bytes: its id, then its outcome's frames (none for a known or unframed entry). */
  #write(ticket: number, requestId: string, terminalFrame: string, usageFrame: string): void {
    const slot = ticket & this.#mask;
    // Room for the most UTF-8 the strings can make (3 bytes per UTF-16 unit), and each write says
    // how many bytes it took: measuring them first (`Buffer.byteLength`) cost as much as writing them.
    this.#reserve(3 * (requestId.length + terminalFrame.length + usageFrame.length));
    const arena = this.#arena;
    const at = this.#arenaEnd - this.#arenaBase;
    const idBytes = arena.write(requestId, at, 'utf8');
    const terminalBytes = terminalFrame === '' ? 0 : arena.write(terminalFrame, at + idBytes, 'utf8');
    const usageBytes = usageFrame === '' ? 0 : arena.write(usageFrame, at + idBytes + terminalBytes, 'utf8');
    this.#starts[slot] = this.#arenaEnd;
    this.#lengths[3 * slot] = idBytes;
    this.#lengths[3 * slot + 1] = terminalBytes;
    this.#lengths[3 * slot + 2] = usageBytes;
    this.#arenaEnd += idBytes + terminalBytes + usageBytes;
  }

  /**
   * Room for `bytes` more at the arena's end. Entries are written mostly in ticket order and
   * forgotten oldest first, so what may still be live is one run of bytes, from the earliest
   * start of an entry still remembered to the end: when full, that run moves to the front, into
   * a larger buffer if it would fill half. A full arena is a walk over the entries, once per
   * arena's worth of bytes written.
   */
  #reserve(bytes: number): void {
    if (this.#arenaEnd - this.#arenaBase + bytes <= this.#arena.length) return;
    let liveStart = this.#arenaEnd;
    for (let ticket = this.#first; ticket < this.#next; ticket++) {
      const slot = ticket & this.#mask;
      if (this.#kinds[slot] !== DEAD) liveStart = Math.min(liveStart, this.#starts[slot]!);
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
    const first = this.#first;
    const next = this.#next;
    this.#kinds = grownRing(this.#kinds, 1, first, next);
    this.#hashes = grownRing(this.#hashes, 1, first, next);
    this.#starts = grownRing(this.#starts, 1, first, next);
    this.#lengths = grownRing(this.#lengths, 3, first, next);
  }
}

/** A random word of this process, mixed into {@link hashOf}. */
const HASH_KEY = randomFillSync(new Uint32Array(1))[0]!;

/**
 * The index's hash: FNV-1a over the id's UTF-16 code units, started from and finished with a
 * random word of this process, so ids a host passes on from elsewhere cannot be chosen to share
 * one hash.
 */
function hashOf(id: string): number {
  let hash = 0x811c9dc5 ^ HASH_KEY;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16) ^ HASH_KEY, 0x85ebca6b);
  return (hash ^ (hash >>> 13)) | 0;
}

/** A message back from its outbox frame: without the frame's sequence number and version, which its next append sets again. */
function unframed(frame: string): object {
  const { seq: _seq, v: _v, ...message } = JSON.parse(frame) as Record<string, unknown>;
  return message;
}
