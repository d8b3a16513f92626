import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/adapters/storage.ts';
import { openRecordLog } from '../../src/storage/record-log.ts';
import { smallDiskForTest } from '../support/small-disk-for-test.ts';

// A real filesystem that runs out of room: a write that hits the limit writes part of its bytes
// and returns without an error; only the next write fails with ENOSPC.

const record = (n: number) => `${n}:`.padEnd(8_000, String.fromCharCode(97 + (n % 26)));

describe('record log on a full disk', () => {
  it('never takes a short write for a durable one, cuts back to the last record, reuses no number, and keeps every promised record across a reopen', async () => {
    // 48 KiB left for the log: six of its 8 KB records, then ENOSPC; 32 KiB come back later.
    const disk = await smallDiskForTest(80 * 1024);
    await writeFile(join(disk.dir, 'filler'), Buffer.alloc(32 * 1024, 1));
    const path = join(disk.dir, 'outbox.log');
    const log = await openRecordLog<string>(path);

    const promised: Array<{ seq: number; value: string }> = [];
    const refused: unknown[] = [];
    for (let n = 1; n <= 8; n++) {
      try {
        const { seq, value } = await log.append(record(n));
        promised.push({ seq, value });
      } catch (error) {
        refused.push(error);
      }
      // The file always ends with a complete line, and holds no NUL bytes.
      const bytes = await readFile(path);
      expect(bytes.at(-1)).toBe(0x0a);
      expect(bytes.includes(0)).toBe(false);
    }
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).message).toMatch(/outbox\.log: cannot write \(ENOSPC\)/);
    }
    // A refused append consumed no number: the promised ones are 1..k.
    expect(promised.map((p) => p.seq)).toEqual(promised.map((_, i) => i + 1));
    expect(log.lastSeq).toBe(promised.length);

    await disk.free();
    for (const n of [9, 10]) {
      const { seq, value } = await log.append(record(n));
      promised.push({ seq, value });
    }
    expect(promised.map((p) => p.seq)).toEqual(promised.map((_, i) => i + 1));
    expect(log.pending().map((r) => r.value)).toEqual(promised.map((p) => p.value));
    const sizeBefore = (await stat(path)).size;
    await log.close();

    const again = await openRecordLog<string>(path);
    expect(again.repairs).toEqual([]);
    expect(again.pending().map((r) => ({ seq: r.seq, value: r.value }))).toEqual(promised);
    expect(again.lastSeq).toBe(promised.length);
    expect((await stat(path)).size).toBe(sizeBefore);
    expect((await again.append(record(11))).seq).toBe(promised.length + 1);
    await again.close();
  });

  it('refuses a batch of appends together, and the log goes on once there is room again', async () => {
    const disk = await smallDiskForTest(64 * 1024);
    const path = join(disk.dir, 'journal.log');
    const log = await openRecordLog<string>(path);
    await log.append(record(0));
    await disk.fill(2_000);
    // Written by one flush (group commit): they fail together, and give their numbers back.
    const batch = await Promise.allSettled([1, 2, 3].map((n) => log.append(record(n))));
    expect(batch.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(log.lastSeq).toBe(1);
    expect(log.pending()).toHaveLength(1);
    // An ack needs a few bytes only, and is not refused with the appends.
    await disk.free();
    const after = await Promise.all([4, 5].map((n) => log.append(record(n))));
    expect(after.map((r) => r.seq)).toEqual([2, 3]);
    await log.ack(2);
    await log.close();
    const again = await openRecordLog<string>(path);
    expect(again.pending().map((r) => r.seq)).toEqual([3]);
    expect(again.lastSeq).toBe(3);
    await again.close();
  });

  it('compaction without room keeps the old file whole and leaves no half-written copy', async () => {
    const disk = await smallDiskForTest(128 * 1024);
    const path = join(disk.dir, 'outbox.log');
    const log = await openRecordLog<string>(path, { compactAfter: 1_000_000 });
    for (let n = 1; n <= 6; n++) await log.append(record(n));
    await log.ack(2);
    await disk.fill(500);
    await expect(log.compact()).rejects.toThrow(/outbox\.log: cannot compact \(ENOSPC\)/);
    await expect(stat(`${path}.compact`)).rejects.toThrow(/ENOENT/);
    expect(log.pending().map((r) => r.seq)).toEqual([3, 4, 5, 6]);
    await disk.free();
    await log.compact();
    await log.close();
    const again = await openRecordLog<string>(path);
    expect(again.pending().map((r) => r.value)).toEqual([3, 4, 5, 6].map(record));
    await again.close();
  });
});
