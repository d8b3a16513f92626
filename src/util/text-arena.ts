/** Where a text starts: its chunk's number times this, plus its offset in the chunk. */
const CHUNK_SPAN = 2 ** 32;
/** The most bytes one UTF-16 code unit takes in UTF-8. */
const MAX_BYTES_PER_UNIT = 3;

/**
 * Texts kept as UTF-8 in `Buffer` chunks outside the JS heap, appended in order and let go of
 * from the oldest: what a structure keeps there is no object for a scavenge to copy or for a
 * full collection to mark. A text is found by the position {@link append} gave and its byte
 * length ({@link lastBytes}). Only well-formed texts come back as they went in (a lone surrogate
 * is written as U+FFFD); JSON from `JSON.stringify` always is. Bytes of a form of their owner's
 * ({@link appendBytes}) are kept the same way, and read back as a view ({@link view}).
 *
 * @example
 * const arena = new TextArena(64 * 1024);
 * const at = arena.append('{"a":1}');
 * arena.read(at, arena.lastBytes); // '{"a":1}'
 */
export class TextArena {
  readonly #chunkBytes: number;
  /** Chunks held, the oldest (number {@link #first}) first. */
  readonly #chunks: Buffer[] = [];
  #first = 0;
  /** Bytes written in the newest chunk. */
  #used = 0;
  /** A chunk let go of, kept for the next one needed: a queue's worth of texts does not allocate. */
  #spare: Buffer | undefined;
  /** The byte length of the text {@link append} wrote last. */
  lastBytes = 0;

  constructor(chunkBytes: number) {
    this.#chunkBytes = chunkBytes;
  }

  /** Bytes held in chunks (a diagnostic: what the tests hold bounded). */
  get bytes(): number {
    let bytes = 0;
    for (const chunk of this.#chunks) bytes += chunk.length;
    return bytes;
  }

  /** Where the next text will start (or a later place): what {@link releaseBefore} takes to let go of everything. */
  get end(): number {
    return (this.#first + this.#chunks.length) * CHUNK_SPAN;
  }

  /** Writes `text`; returns where it starts. Its byte length is then {@link lastBytes}. */
  append(text: string): number {
    const most = text.length * MAX_BYTES_PER_UNIT;
    // Room for the longest UTF-8 the text could be, so it is written in one go without counting its bytes first;
    // a text that may not fit a chunk is counted, and gets its exact size (three bytes a unit would leave ASCII two thirds empty).
    const chunk = this.#room(most, most > this.#chunkBytes ? Buffer.byteLength(text) : 0);
    const at = (this.#first + this.#chunks.length - 1) * CHUNK_SPAN + this.#used;
    this.lastBytes = chunk.write(text, this.#used, 'utf8');
    this.#used += this.lastBytes;
    return at;
  }

  /** Copies the first `length` bytes of `bytes`; returns where they start ({@link lastBytes} is then `length`). */
  appendBytes(bytes: Uint8Array, length: number): number {
    const chunk = this.#room(length, length);
    const at = (this.#first + this.#chunks.length - 1) * CHUNK_SPAN + this.#used;
    // A plain view, not `subarray`: a Buffer's is a Buffer, costlier to make (bench/round-trip).
    chunk.set(length === bytes.length ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, length), this.#used);
    this.lastBytes = length;
    this.#used += length;
    return at;
  }

  /** The newest chunk when `most` more bytes fit in it, else a new one: of `exact` bytes when `most` is more than a chunk. */
  #room(most: number, exact: number): Buffer {
    let chunk = this.#chunks[this.#chunks.length - 1];
    if (chunk === undefined || this.#used + most > chunk.length) {
      const spare = this.#spare;
      const room = most > this.#chunkBytes ? Math.max(this.#chunkBytes, exact) : this.#chunkBytes;
      chunk = spare !== undefined && spare.length >= room ? spare : Buffer.allocUnsafe(room);
      if (chunk === spare) this.#spare = undefined;
      this.#chunks.push(chunk);
      this.#used = 0;
    }
    return chunk;
  }

  /** The text of `bytes` bytes at `at`. */
  read(at: number, bytes: number): string {
    const number = Math.floor(at / CHUNK_SPAN);
    const offset = at - number * CHUNK_SPAN;
    return this.#chunks[number - this.#first]!.toString('utf8', offset, offset + bytes);
  }

  /**
   * The `bytes` bytes at `at` ({@link appendBytes}), as a view of the chunk: read it before the
   * next {@link releaseBefore}, which may hand its chunk to later texts.
   */
  view(at: number, bytes: number): Buffer {
    const number = Math.floor(at / CHUNK_SPAN);
    const offset = at - number * CHUNK_SPAN;
    return this.#chunks[number - this.#first]!.subarray(offset, offset + bytes);
  }

  /** Lets go of the chunks wholly before `at` (the start of the oldest text still wanted, or {@link end}). */
  releaseBefore(at: number): void {
    const number = Math.floor(at / CHUNK_SPAN);
    while (this.#first < number && this.#chunks.length > 0) {
      const chunk = this.#chunks.shift()!;
      this.#first++;
      if (chunk.length === this.#chunkBytes) this.#spare = chunk;
    }
    if (this.#chunks.length === 0) {
      this.#first = number;
      this.#used = 0;
    }
  }
}
