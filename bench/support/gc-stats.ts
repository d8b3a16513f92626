/**
 * What a process allocated and what survived its scavenges over a stretch of a benchmark, from
 * V8's own before/after heap statistics of every collection (`v8.GCProfiler`, Node 18.15+):
 *
 * - allocated: the heap used before each collection less that after the one before it, summed,
 *   plus what was allocated since the last one. Objects that die young count too: this is the
 *   allocation rate, what makes scavenges come.
 * - promoted: per scavenge, how much the heap outside the young generation grew (what moved
 *   to the old generation); what a scavenge copies is its cost, and what is promoted is copied.
 *
 * The profiler reads the heap's space statistics at each collection: a few microseconds per
 * scavenge, in every contender alike.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';

export interface GcStats {
  allocatedBytes: number;
  scavenges: number;
  /** Bytes promoted to the old generation, summed over the scavenges. */
  promotedBytes: number;
  /** Time in scavenges, ms. */
  scavengeMs: number;
  /** Full (mark-compact) collections. */
  fullGcs: number;
}

type SpaceStats = { spaceName: string; spaceUsedSize: number };
type HeapSnapshot = { heapStatistics: { usedHeapSize: number }; heapSpaceStatistics: SpaceStats[] };
type GcEntry = { gcType: string; cost: number; beforeGC: HeapSnapshot; afterGC: HeapSnapshot };

const YOUNG = new Set(['new_space', 'new_large_object_space']);

function oldUsed(snapshot: HeapSnapshot): number {
  return snapshot.heapSpaceStatistics.reduce((sum, space) => sum + (YOUNG.has(space.spaceName) ? 0 : space.spaceUsedSize), 0);
}

/**
 * Starts counting; `stop()` returns what happened since.
 *
 * @example
 * const gc = startGcStats();
 * await work();
 * const { allocatedBytes, promotedBytes, scavenges } = gc.stop();
 */
export function startGcStats(): { stop(): GcStats } {
  const profiler = new GCProfiler();
  const startUsed = getHeapStatistics().used_heap_size;
  profiler.start();
  return {
    stop() {
      const endUsed = getHeapStatistics().used_heap_size;
      const entries = (profiler.stop()?.statistics ?? []) as GcEntry[];
      const stats: GcStats = { allocatedBytes: 0, scavenges: 0, promotedBytes: 0, scavengeMs: 0, fullGcs: 0 };
      let usedAfterLast = startUsed;
      for (const entry of entries) {
        stats.allocatedBytes += Math.max(0, entry.beforeGC.heapStatistics.usedHeapSize - usedAfterLast);
        usedAfterLast = entry.afterGC.heapStatistics.usedHeapSize;
        if (entry.gcType === 'Scavenge') {
          stats.scavenges += 1;
          stats.scavengeMs += entry.cost / 1_000;
          stats.promotedBytes += Math.max(0, oldUsed(entry.afterGC) - oldUsed(entry.beforeGC));
        } else if (entry.gcType === 'MarkSweepCompact') stats.fullGcs += 1;
      }
      stats.allocatedBytes += Math.max(0, endUsed - usedAfterLast);
      return stats;
    },
  };
}
