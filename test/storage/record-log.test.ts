import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryRecordLog, firstAfter, indexOfSeq, openRecordLog } from '../../src/storage/record-log.ts';
import { onLines } from '../support/loopback.ts';

let dir: string;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
const fresh = async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloudtether-log-'));
  return join(dir, 'outbox.log');
};

describe('record log', () => {
  it('keeps appended records across a reopen, in order, until they are acknowledged', async () => {
    const path = await fresh();
    const log = await openRecordLog<{ id: string }>(path, { now: () => 42 });
    const records = await Promise.all(['a', 'b', 'c', 'd'].map((id) => log.append({ id })));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    await log.ack(2);
    expect(log.pending().map((r) => r.value.id)).toEqual(['c', 'd']);
    await log.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    const again = await openRecordLog<{ id: string }>(path);
    expect(again.pending()).toEqual([
      { seq: 3, at: 42, value: { id: 'c' } },
      { seq: 4, at: 42, value: { id: 'd' } },
    ]);
    expect(again.lastSeq).toBe(4);
    expect((await again.append({ id: 'e' })).seq).toBe(5);
    await again.close();
  });

  it('cuts a torn last line and keeps everything before it', async () => {
    const path = await fresh();
    const log = await openRecordLog<number>(path);
    for (let i = 0; i < 5; i++) await log.append(i);
    await log.close();
    await appendFile(path, '{"s":6,"t":1,"v":5,"c":12'); // the process died mid-write
    const again = await openRecordLog<number>(path);
    expect(again.pending().map((r) => r.value)).toEqual([0, 1, 2, 3, 4]);
    await again.append(99);
    await again.close();
    const third = await openRecordLog<number>(path);
    expect(third.pending().map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 99]);
    await third.close();
  });

  it('cuts a torn tail at its byte offset when records hold multi-byte characters, and still reads a line spaced out by hand', async () => {
    const path = await fresh();
    const log = await openRecordLog<string>(path);
    for (const text of ['grüße', '日本語', '🚀 launch', 'plain']) await log.append(text);
    await log.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    // Same record, other bytes: checked by its content, as before the CRC was read off the bytes.
    lines[3] = JSON.stringify(JSON.parse(lines[3]!), null, 1).replaceAll('\n', '');
    await writeFile(path, `${lines.join('\n')}{"s":5,"t":1,"v":"über`);
    const again = await openRecordLog<string>(path);
    expect(again.pending().map((r) => r.value)).toEqual(['grüße', '日本語', '🚀 launch', 'plain']);
    await again.append('après');
    await again.close();
    const third = await openRecordLog<string>(path);
    expect(third.pending().map((r) => r.value)).toEqual(['grüße', '日本語', '🚀 launch', 'plain', 'après']);
    await third.close();
  });

  it('drops a record whose checksum does not match, or that its parser refuses, keeps every record after it, and says where', async () => {
    const path = await fresh();
    const log = await openRecordLog<number>(path);
    for (let i = 0; i < 4; i++) await log.append(i);
    await log.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    const damagedAt = Buffer.byteLength(lines.slice(0, 2).join('\n')) + 1;
    lines[2] = lines[2]!.replace('"v":2', '"v":7'); // flipped bits: the CRC no longer matches
    await writeFile(path, lines.join('\n'));
    const again = await openRecordLog<number>(path);
    expect(again.pending().map((r) => r.value)).toEqual([0, 1, 3]);
    expect(again.repairs).toEqual([{ path, offset: damagedAt, bytes: Buffer.byteLength(lines[2]!) + 1, linesKept: 1 }]);
    expect(again.lastSeq).toBe(4);
    await again.close();
    // Rewritten without the damage: the next open finds nothing to repair.
    expect((await readFile(path, 'utf8')).includes('"v":7')).toBe(false);

    const strict = await openRecordLog<number>(path, {
      parse: (v) => {
        if (v === 1) throw new Error('not a record');
        return v as number;
      },
    });
    expect(strict.pending().map((r) => r.value)).toEqual([0, 3]);
    expect(strict.repairs).toHaveLength(1);
    expect((await strict.append(9)).seq).toBe(5);
    await strict.close();
  });

  it('finds the record that a torn line runs into, and numbers on from the highest one read', async () => {
    const path = await fresh();
    const log = await openRecordLog<string>(path);
    for (const text of ['a', 'b', 'c']) await log.append(text);
    await log.close();
    const text = await readFile(path, 'utf8');
    const [first, second, third] = text.split('\n');
    // Record 2 torn half way, NUL bytes after it, and record 3 written straight after them.
    const torn = `${first}\n${second!.slice(0, 9)}${'\u0000'.repeat(40)}${third}\n`;
    await writeFile(path, torn);
    const again = await openRecordLog<string>(path);
    expect(again.pending().map((r) => [r.seq, r.value])).toEqual([
      [1, 'a'],
      [3, 'c'],
    ]);
    expect(again.repairs).toEqual([{ path, offset: first!.length + 1, bytes: 49, linesKept: 1 }]);
    expect((await again.append('d')).seq).toBe(4);
    await again.close();
    const third2 = await openRecordLog<string>(path);
    expect(third2.pending().map((r) => r.value)).toEqual(['a', 'c', 'd']);
    expect(third2.repairs).toEqual([]);
    await third2.close();
  });

  it('compacts acknowledged records away, keeps the sequence going, and loses no concurrent append', async () => {
    const path = await fresh();
    const log = await openRecordLog<number>(path, { compactAfter: 100 });
    for (let i = 0; i < 300; i++) await log.append(i);
    const before = (await stat(path)).size;
    await log.ack(250); // past compactAfter, and most of the file: compaction runs
    expect((await stat(path)).size).toBeLessThan(before / 3);
    // Appends racing an explicit compaction all land.
    await Promise.all([log.compact(), ...Array.from({ length: 50 }, (_, i) => log.append(1_000 + i))]);
    await log.close();
    const again = await openRecordLog<number>(path);
    expect(again.pending().map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 251 + i));
    expect(again.lastSeq).toBe(350);
    expect((await again.append(7)).seq).toBe(351);
    await again.close();
  });

  it('hands out records that serialise as { seq, at, value } in that order, on disk and in memory', async () => {
    const memory = createMemoryRecordLog<{ n: number }>({ now: () => 42 });
    const disk = await openRecordLog<{ n: number }>(await fresh(), { now: () => 42 });
    for (const log of [memory, disk]) {
      const record = await log.append({ n: 1 });
      expect(JSON.stringify(record)).toBe('{"seq":1,"at":42,"value":{"n":1}}');
      expect(Object.keys(log.pending()[0]!)).toEqual(['seq', 'at', 'value']);
      expect({ ...record }).toEqual({ seq: 1, at: 42, value: { n: 1 } });
    }
    await disk.close();
  });

  it('finds records by sequence number by bisection, gaps and ends included (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat({ max: 200 })), fc.integer({ min: -1, max: 201 }), (numbers, seq) => {
        const records = [...numbers].sort((a, b) => a - b).map((n) => ({ seq: n }));
        expect(firstAfter(records, seq)).toBe(records.filter((r) => r.seq <= seq).length);
        expect(indexOfSeq(records, seq)).toBe(records.findIndex((r) => r.seq === seq));
      }),
    );
  });

  it('matches a model of appends, acks and settles whatever the order, on disk and in memory (property)', async () => {
    const op = fc.oneof(
      fc.constant({ kind: 'append' as const, n: 0 }),
      fc.record({ kind: fc.constant('ack' as const), n: fc.nat({ max: 40 }) }),
      fc.record({ kind: fc.constant('settle' as const), n: fc.nat({ max: 40 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const path = await fresh();
        const log = await openRecordLog<number>(path, { compactAfter: 5 });
        const memory = createMemoryRecordLog<number>();
        let model: number[] = [];
        let next = 1;
        for (const { kind, n } of ops) {
          if (kind === 'append') {
            await Promise.all([log.append(next), memory.append(next)]);
            model.push(next++);
          } else if (kind === 'ack') {
            await Promise.all([log.ack(n), memory.ack(n)]);
            model = model.filter((seq) => seq > n);
          } else {
            await Promise.all([log.settle(n), memory.settle(n)]);
            model = model.filter((seq) => seq !== n);
          }
        }
        expect(memory.pending().map((r) => r.seq)).toEqual(model);
        await log.close();
        const again = await openRecordLog<number>(path);
        expect(again.pending().map((r) => r.value)).toEqual(model);
        expect(again.pending().map((r) => r.seq)).toEqual(model);
        // Settled and acknowledged numbers are never handed out again.
        expect(again.lastSeq).toBe(next - 1);
        await again.close();
        await rm(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });

  it('keeps every record whose append resolved when the process is killed with SIGKILL at random points', async () => {
    const path = await fresh();
    const promised = new Set<number>();
    let acking = 0; // an ack up to here may have reached the disk
    let acked = 0; // an ack up to here did
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/record-log-child.ts', path], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const killAfter = 20 + Math.floor(Math.random() * 200); // durable records this round
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      let seen = 0;
      onLines(child.stdout, (line) => {
        const [kind, value] = line.split(' ');
        if (kind === 'durable') {
          promised.add(Number(value));
          if (++seen === killAfter) child.kill('SIGKILL');
        } else if (kind === 'acking') acking = Math.max(acking, Number(value));
        else if (kind === 'acked') acked = Math.max(acked, Number(value));
      });
      await exited;
      const log = await openRecordLog<{ n: number }>(path);
      const pending = log.pending().map((r) => r.seq);
      // Nothing promised and not acknowledged is missing, nothing acknowledged comes back,
      // nothing appears twice, and the order holds.
      for (const seq of promised) if (seq > acking) expect(pending).toContain(seq);
      for (const seq of pending) expect(seq).toBeGreaterThan(acked);
      expect(new Set(pending).size).toBe(pending.length);
      expect([...pending].sort((a, b) => a - b)).toEqual(pending);
      expect(log.lastSeq).toBeGreaterThanOrEqual(Math.max(...promised));
      await log.close();
    }
    expect(promised.size).toBeGreaterThan(100);
  });
});
