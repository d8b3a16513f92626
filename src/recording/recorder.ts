import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { SESSION_FORMAT, SESSION_VERSION, type SessionEntry, type SessionHeader, type StoreSnapshot } from './format.ts';

/** Where and how much to record (`createConnector(config, { record })`, `--record FILE`). */
export interface RecordOptions {
  /** The session file; created or truncated, mode 0600 (it holds the frames of the session). */
  file: string;
  /** The file stops growing here: one last `end` line says `size_limit`. Default 64 MiB. */
  maxBytes?: number;
}

/** The recorder's own entries: everything but the clock time, which it adds. */
export type EntryInput = SessionEntry extends infer E ? (E extends SessionEntry ? Omit<E, 'at'> : never) : never;

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
// Room kept for the closing line, so a file never ends without saying why.
const END_RESERVE = 128;

/**
 * The recorder actor: it owns one session file and takes entries in the order they happen,
 * stamped with the connector's clock. Writes are buffered by a stream; `end()` flushes and
 * closes. Past `maxBytes` it writes one `end` line with `size_limit` and drops the rest: a
 * recording never fills a disk, and a replay of it stops at the cut.
 *
 * Callers redact before they write (src/recording/recording-adapters.ts does).
 */
export class SessionRecorder {
  readonly #stream: WriteStream;
  readonly #now: () => number;
  readonly #maxBytes: number;
  #bytes = 0;
  #state: 'recording' | 'full' | 'ended' = 'recording';
  #error: Error | undefined;
  /** Lines written before the header could be: the store's contents were still being read. */
  #held: string[] | undefined;
  #headerWritten: Promise<void> = Promise.resolve();

  constructor(options: RecordOptions & { now: () => number }) {
    this.#now = options.now;
    this.#maxBytes = Math.max(options.maxBytes ?? DEFAULT_MAX_BYTES, 4 * END_RESERVE);
    this.#stream = createWriteStream(options.file, { flags: 'w', mode: 0o600 });
    // A disk error ends the recording, never the connector.
    this.#stream.on('error', (error) => {
      this.#error = error;
      this.#state = 'ended';
    });
  }

  /**
   * The first line. The store's contents are read asynchronously (a settings file): until they
   * are in, entries wait in memory behind the header, in order, with the times they happened.
   */
  header(library: string, config: Record<string, unknown>, store?: Promise<StoreSnapshot | undefined>): void {
    const header: SessionHeader = {
      kind: 'session',
      format: SESSION_FORMAT,
      version: SESSION_VERSION,
      library,
      started_at: this.#now(),
      config,
    };
    if (!store) return this.#line(JSON.stringify(header));
    this.#held = [];
    this.#headerWritten = store
      .catch(() => undefined)
      .then((snapshot) => {
        const held = this.#held ?? [];
        this.#held = undefined;
        this.#line(JSON.stringify(snapshot ? { ...header, store: snapshot } : header));
        for (const text of held) this.#line(text, true);
      });
  }

  /** One entry, stamped with the clock time now. */
  write(entry: EntryInput): void {
    if (this.#state !== 'recording') return;
    const text = JSON.stringify({ ...entry, at: this.#now() });
    if (this.#bytes + Buffer.byteLength(text) + 1 > this.#maxBytes - END_RESERVE) {
      this.#state = 'full';
      this.#line(JSON.stringify({ kind: 'end', at: this.#now(), reason: 'size_limit' }));
      return;
    }
    this.#line(text);
  }

  /** Writes the `end` line (unless the size limit did) and closes the file. Idempotent. */
  async end(): Promise<void> {
    if (this.#state === 'recording') this.#line(JSON.stringify({ kind: 'end', at: this.#now(), reason: 'stopped' }));
    await this.#headerWritten;
    this.#state = 'ended';
    if (!this.#stream.writableEnded && !this.#stream.destroyed) this.#stream.end();
    // A failed write was reported through `error`; closing still completes.
    await finished(this.#stream).catch(() => {});
  }

  /** Set when writing failed; the recording stopped there. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  #line(text: string, counted = false): void {
    if (!counted) this.#bytes += Buffer.byteLength(text) + 1;
    if (this.#held) {
      this.#held.push(text);
      return;
    }
    this.#stream.write(`${text}\n`);
  }
}
