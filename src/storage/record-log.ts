import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { StorageError } from '../adapters/storage.ts';

/** One stored record: a sequence number (per log, from 1), when it was appended, and its value. */
export interface LogRecord<T> {
  seq: number;
  at: number;
  value: T;
}

/**
 * A {@link LogRecord} as an append makes it. A class, not an object literal: V8 pretenures a
 * literal's allocation site once most of its objects outlive a scavenge (a backlog under load),
 * and from then on allocates every record from that site straight into old space, where the
 * short-lived ones of a quiet device (acknowledged within a round trip) wait for a full GC.
 * `new` of a class has no such site (docs/performance.md, "Pretenuring").
 *
 * @example
 * const record = new AppendedRecord(7, Date.now(), entry); // { seq: 7, at, value: entry }
 */
export class AppendedRecord<T> implements LogRecord<T> {
  constructor(
    public seq: number,
    public at: number,
    public value: T,
  ) {}
}

/**
 * The index of the first record with a sequence number above `seq`. Pending records are always
 * in sequence order (appends number upwards; acks and settles only remove), so this is a
 * bisection, not a walk: an ack or a settle costs O(log n) however long the backlog.
 *
 * @example
 * firstAfter([{ seq: 3 }, { seq: 5 }, { seq: 9 }], 5); // 2
 */
export function firstAfter(records: ReadonlyArray<{ seq: number }>, seq: number): number {
  let low = 0;
  let high = records.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (records[mid]!.seq <= seq) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index of the record numbered `seq`, or -1 (records in sequence order). */
export function indexOfSeq(records: ReadonlyArray<{ seq: number }>, seq: number): number {
  const index = firstAfter(records, seq - 1);
  return records[index]?.seq === seq ? index : -1;
}

export interface RecordLogOptions<T> {
  /** Checks each value read back on open; a record that fails it is treated as corruption. */
  parse?: (value: unknown) => T;
  /** Wall clock for `at`. Default `Date.now`. */
  now?: () => number;
  /** Rewrite the file once this many acknowledged records sit in it (and they are most of it). Default 1 000. */
  compactAfter?: number;
}

/**
 * Bytes that `open` found neither a complete record nor the end of the file: a record torn by a
 * write that failed half way (a full disk, a crash) or damaged since. The records after them
 * are kept; the bytes themselves are dropped.
 */
export interface LogRepair {
  path: string;
  /** Byte offset of the damaged bytes in the file as it was found. */
  offset: number;
  bytes: number;
  /** Complete records (and acks) found after the damage, and kept. */
  linesKept: number;
}

/**
 * A durable, append-only log of records, acknowledged from the front: what an outbox needs.
 *
 * - `append` resolves once the record is on disk (every byte written, and fdatasync'd). Appends
 *   that arrive while a write is in flight are written together by the next one (group commit).
 * - A write that fails (`ENOSPC`, `EIO`, a short write that cannot finish) rejects every append
 *   of its batch with a {@link StorageError}, and of those queued behind it; the file is cut back
 *   to its last complete record and the failed appends give their sequence numbers back. The
 *   log stays usable: the next append tries again.
 * - `ack(seq)` acknowledges every record up to `seq`, durably; they leave `pending()`.
 *   `settle(seq)` acknowledges one record wherever it is.
 * - The file is JSON lines, each with a CRC-32: after a crash (even `kill -9` mid-write) `open`
 *   keeps every complete record and cuts a torn or corrupt tail, so what an `append` promised is
 *   there and nothing half-written is.
 * - Acknowledged records are dropped by compaction: the pending ones are rewritten to a new file
 *   that atomically replaces the old one.
 *
 * @example
 * const log = await openRecordLog<UsageReport>(join(stateDir, 'outbox.log'));
 * const { seq } = await log.append(report);   // durable from here on
 * for (const record of log.pending()) send(record);
 * await log.ack(ackedSeq);                     // the hub has them
 */
export interface RecordLog<T> {
  readonly path: string;
  /** Records appended and not acknowledged, oldest first. */
  pending(): ReadonlyArray<LogRecord<T>>;
  /** Highest sequence number handed out (0 for a new log); appends still being written included. */
  readonly lastSeq: number;
  /** What `open` found damaged and dropped, oldest first; empty for a clean file. */
  readonly repairs: ReadonlyArray<LogRepair>;
  append(value: T): Promise<LogRecord<T>>;
  /** Acknowledges every record up to `uptoSeq`, durably: an outbox's cumulative ack. */
  ack(uptoSeq: number): Promise<void>;
  /** Acknowledges one record, durably, whatever its place: a journal of work that finishes out of order. */
  settle(seq: number): Promise<void>;
  /** Rewrites the file with the pending records only. Runs by itself past `compactAfter`. */
  compact(): Promise<void>;
  close(): Promise<void>;
}

/** A record (`s`), a cumulative ack (`a`), or one record settled out of order (`d`). */
type Line = { s: number; t: number; v: unknown } | { a: number } | { d: number };

/**
 * Opens (or creates) a record log at `path`, replaying what is on disk. A torn last line (a
 * crash mid-write) is cut silently; damaged bytes with complete records after them are dropped,
 * the records kept, the file rewritten without them, and each such place listed in `repairs`.
 *
 * @throws {StorageError} naming the path when the file cannot be opened or read.
 */
export async function openRecordLog<T>(path: string, options: RecordLogOptions<T> = {}): Promise<RecordLog<T>> {
  const parse = options.parse ?? ((v: unknown) => v as T);
  const now = options.now ?? Date.now;
  const compactAfter = options.compactAfter ?? 1_000;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw new StorageError(dirname(path), `cannot create the directory (${codeOf(error)})`, error);
  });

  let file: FileHandle;
  try {
    file = await open(path, 'a+', 0o600);
  } catch (error) {
    throw new StorageError(path, `cannot open (${codeOf(error)})`, error);
  }
  const { pending, lastSeq, acked, validBytes, totalBytes, repairs } = await replay(file, parse, path);
  if (validBytes < totalBytes) {
    // A torn tail from a crash or a failed write: cut it, so new lines follow the last good one.
    await file.truncate(validBytes);
    await file.datasync();
  }

  /** Highest sequence number handed out, appends in flight included. */
  let seq = lastSeq;
  /** Highest sequence number whose line is on disk: what a failed write rolls `seq` back to. */
  let durableSeq = lastSeq;
  let ackedInFile = acked;
  /** Bytes of complete lines in the file, always equal to its size: where a failed write is cut back to. */
  let size = validBytes;
  /** A failed write that could not be cut back: the file's tail is unknown, so nothing more is written. */
  let broken: StorageError | undefined;
  /** Compaction failed (no room for the new file): not tried again before this many more acks. */
  let compactAfterAcked = compactAfter;
  type Queued = { line: string; seq: number; resolve: () => void; reject: (error: unknown) => void };
  let queue: Queued[] = [];
  let flushScheduled = false;
  let closed = false;
  // Every file operation runs in this chain, one at a time: a compaction never races a write.
  let chain: Promise<unknown> = Promise.resolve();
  const serially = <R>(operation: () => Promise<R>): Promise<R> => {
    const run = chain.then(operation);
    chain = run.catch(() => undefined);
    return run;
  };

  // Group commit: a flush writes (and fsyncs) everything queued up to the moment it runs.
  const flush = async (): Promise<void> => {
    flushScheduled = false;
    const batch = queue;
    queue = [];
    if (broken) return fail(batch, broken);
    const bytes = Buffer.from(batch.map((entry) => entry.line).join(''));
    try {
      await writeFully(file, bytes);
      await file.datasync();
      size += bytes.length;
      for (const entry of batch) if (entry.seq > durableSeq) durableSeq = entry.seq;
      for (const entry of batch) entry.resolve();
    } catch (error) {
      // Part of the batch may be in the file: cut back to the last complete line, or the next
      // line would follow torn bytes. `size` only ever counts complete lines, so this shrinks.
      await file.truncate(size).catch((cause: unknown) => {
        broken = new StorageError(path, `a failed write could not be undone (${codeOf(cause)}); reopen the log`, cause);
      });
      fail(batch, new StorageError(path, `cannot write (${codeOf(error)})`, error));
    }
  };
  /**
   * Rejects a failed batch and every append queued behind it (they hold the numbers after the
   * failed ones), and hands their sequence numbers back: numbers stay contiguous on disk.
   */
  const fail = (batch: Queued[], error: StorageError): void => {
    const behind = queue.filter((entry) => entry.seq > 0);
    queue = queue.filter((entry) => entry.seq === 0);
    seq = durableSeq;
    for (const entry of [...batch, ...behind]) entry.reject(error);
  };
  const write = (line: Line, lineSeq = 0): Promise<void> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new StorageError(path, 'the log is closed'));
      queue.push({ line: encode(line), seq: lineSeq, resolve, reject });
      if (!flushScheduled) {
        flushScheduled = true;
        void serially(flush);
      }
    });

  const rewrite = async (): Promise<void> => {
    if (broken) throw broken;
    const temporary = `${path}.compact`;
    // The sequence carries on: an ack line for what came before keeps `lastSeq` on reopen.
    const first = pending.length > 0 ? pending[0]!.seq - 1 : durableSeq;
    const lines = [encode({ a: first }), ...pending.map((r) => encode({ s: r.seq, t: r.at, v: r.value }))];
    // Settled records after the last pending one leave no line: this one keeps their numbers used.
    if (pending.length > 0 && pending.at(-1)!.seq < durableSeq) lines.push(encode({ d: durableSeq }));
    const bytes = Buffer.from(lines.join(''));
    try {
      const fresh = await open(temporary, 'w', 0o600);
      try {
        // All of it or nothing: a short file must never replace the log.
        await writeFully(fresh, bytes);
        await fresh.datasync();
      } finally {
        await fresh.close();
      }
      await rename(temporary, path);
    } catch (error) {
      // The old file stays as it was; the half-written copy would only take room.
      await unlink(temporary).catch(() => undefined);
      throw new StorageError(path, `cannot compact (${codeOf(error)})`, error);
    }
    size = bytes.length;
    ackedInFile = 0;
    const dir = await open(dirname(path), 'r');
    await dir.sync().finally(() => dir.close());
    await file.close();
    file = await open(path, 'a+', 0o600);
  };

  const compactIfWorthIt = async (): Promise<void> => {
    if (ackedInFile < compactAfterAcked || ackedInFile <= pending.length) return;
    try {
      await log.compact();
      compactAfterAcked = compactAfter;
    } catch {
      // Compaction only saves room; the acks it follows are on disk. Try again later, not at every ack.
      compactAfterAcked = ackedInFile + compactAfter;
    }
  };

  const log: RecordLog<T> = {
    path,
    repairs,
    pending: () => pending,
    get lastSeq() {
      return seq;
    },
    async append(value) {
      const record: LogRecord<T> = new AppendedRecord(++seq, now(), value);
      await write({ s: record.seq, t: record.at, v: value }, record.seq);
      pending.push(record);
      return record;
    },
    async ack(ackSeq) {
      // Numbers not on disk cannot be acknowledged; on disk they would move `lastSeq`.
      const uptoSeq = Math.min(ackSeq, durableSeq);
      if (firstAfter(pending, uptoSeq) === 0) return;
      await write({ a: uptoSeq });
      // Counted after the write: a `settle` may have removed one of them meanwhile.
      const removed = firstAfter(pending, uptoSeq);
      pending.splice(0, removed);
      ackedInFile += removed;
      await compactIfWorthIt();
    },
    async settle(seq) {
      if (indexOfSeq(pending, seq) === -1) return;
      await write({ d: seq });
      // Look again: an ack may have removed it while the line was written.
      const at = indexOfSeq(pending, seq);
      if (at !== -1) pending.splice(at, 1);
      ackedInFile += 1;
      await compactIfWorthIt();
    },
    compact() {
      return serially(rewrite);
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return serially(() => file.close());
    },
  };
  if (repairs.length > 0) {
    // Damage in the middle: rewrite the file without it, so it is not found again at every open.
    // Without room for that, the file stays as it is; the next open finds the same records.
    await log.compact().catch(() => undefined);
  }
  return log;
}

/**
 * Writes all of `bytes` at the end of the file. A write may take fewer bytes than it was given
 * (the disk filled up half way) without failing: write the rest, and the next call says why.
 */
async function writeFully(file: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset);
    if (bytesWritten === 0) throw Object.assign(new Error('the file system took no bytes'), { code: 'ENOSPC' });
    offset += bytesWritten;
  }
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? 'error';
}

function encode(line: Line): string {
  const body = JSON.stringify(line);
  // The text of JSON.stringify({ ...line, c }), without serialising the record a second time.
  return `${body.slice(0, -1)},"c":${crc32(body)}}\n`;
}

async function replay<T>(file: FileHandle, parse: (v: unknown) => T, path: string) {
  let bytes: Buffer;
  try {
    bytes = await file.readFile();
  } catch (error) {
    throw new StorageError(path, `cannot read (${codeOf(error)})`, error);
  }
  const pending: Array<LogRecord<T>> = [];
  const repairs: LogRepair[] = [];
  let lastSeq = 0;
  let acked = 0;
  /** Damaged bytes not yet known to be followed by a complete line (they may be the torn tail). */
  let damage: { offset: number; bytes: number } | undefined;
  // Lines are cut at the newline byte, so offsets are byte offsets with no counting (UTF-8 never
  // has 0x0A inside a character). Measuring the text read so far at every line was quadratic.
  let offset = 0;
  /** End of the last complete line: everything after it is a torn tail, cut on open. */
  let validEnd = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    if (end === -1) break; // a line without its newline was torn mid-write
    // A torn line runs into the next line's start (the write after it went on from there): a
    // complete line may begin anywhere in a damaged one.
    let start = offset;
    let line = decode(bytes, start, end, parse);
    while (!line) {
      start = nextLineStart(bytes, start + 1, end);
      if (start === -1) break;
      line = decode(bytes, start, end, parse);
    }
    // A record numbered at or below one already read cannot be one this log wrote after it.
    if (line && 's' in line && line.s <= lastSeq) line = undefined;
    if (!line) {
      damage = damage ?? { offset, bytes: 0 };
      damage.bytes = end + 1 - damage.offset;
      offset = end + 1;
      continue;
    }
    if (damage || start > offset) {
      const from = damage?.offset ?? offset;
      repairs.push({ path, offset: from, bytes: start - from, linesKept: 0 });
      damage = undefined;
    }
    if (repairs.length > 0) repairs.at(-1)!.linesKept += 1;
    if ('a' in line) {
      const count = firstAfter(pending, line.a);
      pending.splice(0, count);
      acked += count;
      lastSeq = Math.max(lastSeq, line.a);
    } else if ('d' in line) {
      const index = indexOfSeq(pending, line.d);
      if (index !== -1) {
        pending.splice(index, 1);
        acked += 1;
      }
      lastSeq = Math.max(lastSeq, line.d);
    } else {
      pending.push({ seq: line.s, at: line.t, value: line.v as T });
      lastSeq = Math.max(lastSeq, line.s);
    }
    offset = end + 1;
    validEnd = offset;
  }
  return { pending, lastSeq, acked, validBytes: validEnd, totalBytes: bytes.length, repairs };
}

/** Every line `encode` writes starts with one of these. */
const LINE_STARTS = [Buffer.from('{"s":'), Buffer.from('{"a":'), Buffer.from('{"d":')];

/** The first place in `bytes[from, end)` where a line `encode` wrote could start, or -1. */
function nextLineStart(bytes: Buffer, from: number, end: number): number {
  let best = -1;
  for (const marker of LINE_STARTS) {
    const at = bytes.indexOf(marker, from);
    if (at !== -1 && at < end && (best === -1 || at < best)) best = at;
  }
  return best;
}

/** `encode` writes a line as its CRC-32'd body with `,"c":<crc>` put before the body's last `}`. */
const CRC_FIELD = Buffer.from(',"c":');
const CLOSE = Buffer.from('}');

/** Decodes the line in `bytes[start, end)`, or undefined when it is not one `encode` wrote. */
function decode<T>(bytes: Buffer, start: number, end: number, parse: (v: unknown) => T): Line | undefined {
  try {
    const { c, ...line } = JSON.parse(bytes.toString('utf8', start, end)) as Line & { c?: unknown };
    // The CRC of the bytes as written spares serialising every record again on open; a line not
    // byte for byte as `encode` writes it gets the old check, so what was accepted still is.
    const at = bytes.lastIndexOf(CRC_FIELD, end);
    const written = at < start ? undefined : crc32(CLOSE, crc32(bytes.subarray(start, at)));
    if (c !== written && c !== crc32(JSON.stringify(line))) return undefined;
    if ('a' in line && Number.isInteger(line.a)) return line;
    if ('d' in line && Number.isInteger(line.d)) return line;
    if ('s' in line && Number.isInteger(line.s) && Number.isInteger(line.t)) return { s: line.s, t: line.t, v: parse(line.v) };
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * A {@link RecordLog} in memory: the same contract without durability, for a connector with no
 * state directory and for unit tests. Nothing survives the process.
 *
 * @example
 * const outbox = createMemoryRecordLog<OutboxEntry>();
 */
export function createMemoryRecordLog<T>(
  options: { now?: () => number; initial?: { lastSeq: number; records: ReadonlyArray<LogRecord<T>> } } = {},
): RecordLog<T> {
  const now = options.now ?? Date.now;
  // `initial`: what another log held (a session replay restores its recorded store).
  const pending: Array<LogRecord<T>> = [...(options.initial?.records ?? [])];
  let seq = options.initial?.lastSeq ?? 0;
  let closed = false;
  const open = () => {
    if (closed) throw new StorageError('memory:', 'the log is closed');
  };
  return {
    path: 'memory:',
    repairs: [],
    pending: () => pending,
    get lastSeq() {
      return seq;
    },
    async append(value) {
      open();
      const record = new AppendedRecord(++seq, now(), value);
      pending.push(record);
      return record;
    },
    async ack(uptoSeq) {
      open();
      pending.splice(0, firstAfter(pending, uptoSeq));
    },
    async settle(done) {
      open();
      const index = indexOfSeq(pending, done);
      if (index !== -1) pending.splice(index, 1);
    },
    async compact() {},
    async close() {
      closed = true;
    },
  };
}
