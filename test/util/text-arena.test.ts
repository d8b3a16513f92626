import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextArena } from '../../src/util/text-arena.ts';

describe('TextArena', () => {
  it('gives back every well-formed text as written, across chunks, until it is let go of', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }), { maxLength: 200 }),
        fc.integer({ min: 0, max: 200 }),
        (texts, cut) => {
          const arena = new TextArena(64);
          const kept = texts.map((text) => ({ text, at: arena.append(text), bytes: arena.lastBytes }));
          for (const { text, at, bytes } of kept) {
            expect(bytes).toBe(Buffer.byteLength(text));
            expect(arena.read(at, bytes)).toBe(text);
          }
          // Let go of what is before the `cut`-th: the rest still reads back.
          const from = Math.min(cut, kept.length);
          arena.releaseBefore(from < kept.length ? kept[from]!.at : arena.end);
          for (const { text, at, bytes } of kept.slice(from)) expect(arena.read(at, bytes)).toBe(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds only the chunks still wanted when texts are let go of oldest first', () => {
    const arena = new TextArena(1_024);
    const starts: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      starts.push(arena.append(`{"n":${i},"text":"some record of about fifty bytes"}`));
      // A window of the last 1,000 texts.
      if (starts.length > 1_000) arena.releaseBefore(starts[starts.length - 1_000]!);
    }
    // 1,000 texts of ~57 bytes, a chunk's end left unused where the longest UTF-8 of the next would not fit: ~62 chunks, not 5,600.
    expect(arena.bytes).toBeLessThanOrEqual(64 * 1_024);
    arena.releaseBefore(arena.end);
    expect(arena.bytes).toBe(0);
    const at = arena.append('after');
    expect(arena.read(at, arena.lastBytes)).toBe('after');
  });

  it('keeps the given bytes, texts and bytes in one arena, across chunks, until they are let go of', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 100 })), { maxLength: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (items, cut) => {
          const arena = new TextArena(64);
          const kept = items.map((item) => {
            if (typeof item === 'string') return { item, at: arena.append(item), bytes: arena.lastBytes };
            // Given in a longer buffer, at an offset in its memory, as a writer's scratch gives them.
            const scratch = Buffer.alloc(item.length + 10, 0xee);
            scratch.set(item, 5);
            const at = arena.appendBytes(scratch.subarray(5), item.length);
            scratch.fill(0xdd);
            return { item, at, bytes: arena.lastBytes };
          });
          const from = Math.min(cut, kept.length);
          arena.releaseBefore(from < kept.length ? kept[from]!.at : arena.end);
          for (const { item, at, bytes } of kept.slice(from)) {
            if (typeof item === 'string') expect(arena.read(at, bytes)).toBe(item);
            else expect(Buffer.from(arena.view(at, bytes))).toStrictEqual(Buffer.from(item));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds texts longer than a chunk in about their UTF-8 size, not three bytes a unit', () => {
    const arena = new TextArena(1_024);
    const ascii = 'a'.repeat(100_000);
    const accented = 'é'.repeat(50_000);
    const kept = [ascii, accented, ascii].map((text) => ({ text, at: arena.append(text), bytes: arena.lastBytes }));
    for (const { text, at, bytes } of kept) expect(arena.read(at, bytes)).toBe(text);
    expect(arena.bytes).toBe(300_000);
  });
});
