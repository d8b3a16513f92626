import { describe, expect, it } from 'vitest';
import { commandCalls, commandDeltas, commandsBetween, usedMemory } from '../../bench/cluster/redis-stats.ts';

const BEFORE = '# Commandstats\r\ncmdstat_evalsha:calls=10,usec=50,usec_per_call=5.00\r\ncmdstat_info:calls=1,usec=9\r\n';
const AFTER =
  '# Commandstats\r\ncmdstat_evalsha:calls=25,usec=90,usec_per_call=3.60\r\ncmdstat_info:calls=2,usec=18\r\ncmdstat_publish:calls=4,usec=8\r\n';

describe('Redis INFO figures (bench/cluster/redis-stats.ts)', () => {
  it('reads calls per command and counts the commands between two readings, the reader’s own left out', () => {
    expect(commandCalls(AFTER)).toEqual(
      new Map([
        ['evalsha', 25],
        ['info', 2],
        ['publish', 4],
      ]),
    );
    // 15 more evalsha, 4 new publish; the INFO that read it is not the cluster's.
    expect(commandsBetween(BEFORE, AFTER)).toBe(19);
    expect(commandsBetween(BEFORE, AFTER, [])).toBe(20);
    expect(commandDeltas(BEFORE, AFTER)).toEqual(
      new Map([
        ['evalsha', 15],
        ['publish', 4],
      ]),
    );
  });

  it('reads used_memory, and says so when it is missing', () => {
    expect(usedMemory('# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n')).toBe(1_048_576);
    expect(() => usedMemory('# Memory\r\n')).toThrow(/used_memory/);
  });
});
