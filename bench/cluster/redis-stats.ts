/**
 * What Redis reports of its own work: commands run (`INFO commandstats`) and memory in use
 * (`INFO memory`), read as numbers so a benchmark can take deltas over a run.
 */

/** Calls per command, from the text of `INFO commandstats` (`cmdstat_get:calls=3,usec=…`). */
export function commandCalls(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

/**
 * Commands run between two readings of `INFO commandstats`, in all, leaving out `ignore` (the
 * reader's own `info`, `ping`, …).
 *
 * @example
 * commandsBetween(before, after, ['info']); // 12_000
 */
export function commandsBetween(before: string, after: string, ignore: readonly string[] = ['info']): number {
  let total = 0;
  for (const calls of commandDeltas(before, after, ignore).values()) total += calls;
  return total;
}

/** Calls per command between two readings of `INFO commandstats` (those that ran), leaving out `ignore`. */
export function commandDeltas(before: string, after: string, ignore: readonly string[] = ['info']): Map<string, number> {
  const was = commandCalls(before);
  const deltas = new Map<string, number>();
  for (const [command, calls] of commandCalls(after)) {
    const delta = calls - (was.get(command) ?? 0);
    if (!ignore.includes(command) && delta > 0) deltas.set(command, delta);
  }
  return deltas;
}

/** `used_memory` in bytes, from the text of `INFO memory`. */
export function usedMemory(info: string): number {
  const match = /^used_memory:(\d+)/m.exec(info);
  if (!match) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}
