/**
 * How busy the machine was while a benchmark measured, and how much of that was someone else:
 * CPU time of the whole machine (/proc/stat) against that of the benchmark's own processes
 * (/proc/<pid>/stat). On a shared 2-core machine a figure is only as good as its quiet; a report
 * prints the foreign share beside its figures. Linux only: elsewhere `sample` returns undefined.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

export interface MachineSample {
  at: number;
  /** CPU time of the whole machine spent not idle, ms. */
  busyMs: number;
  /** CPU time of the benchmark's own processes, ms. */
  ownMs: number;
}

/** Machine load between two samples, in % of all cores. */
export interface MachineLoad {
  busyPercent: number;
  /** What processes other than the benchmark's used. */
  foreignPercent: number;
}

function ticksToMs(ticks: number): number {
  return (ticks * 1000) / TICKS_PER_SECOND;
}

function processTicks(pid: number, children: boolean): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name; cutime and
  // cstime (children that ended and were waited for) the two after them.
  return Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);
}

/**
 * Samples the machine's busy time and that of `pids` (which must be alive); with `children`,
 * also that of their child processes which have ended (short-lived probes).
 *
 * @example
 * const before = sampleMachine([process.pid, child.pid]);
 * // … measure …
 * const load = machineLoad(before, sampleMachine([process.pid, child.pid])); // { busyPercent: 61, foreignPercent: 3 }
 */
export function sampleMachine(pids: readonly number[], { children = false }: { children?: boolean } = {}): MachineSample | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.reduce((a, b) => a + b, 0);
    // idle and iowait are the 4th and 5th counters.
    const busy = total - cpu[3]! - (cpu[4] ?? 0);
    const own = pids.reduce((sum, pid) => sum + processTicks(pid, children), 0);
    return { at: performance.now(), busyMs: ticksToMs(busy), ownMs: ticksToMs(own) };
  } catch {
    return undefined;
  }
}

/** The load between two samples; undefined where either is. */
export function machineLoad(before: MachineSample | undefined, after: MachineSample | undefined): MachineLoad | undefined {
  if (!before || !after) return undefined;
  const capacity = (after.at - before.at) * cpus().length;
  if (capacity <= 0) return undefined;
  const busy = after.busyMs - before.busyMs;
  const foreign = Math.max(0, busy - (after.ownMs - before.ownMs));
  return { busyPercent: (busy / capacity) * 100, foreignPercent: (foreign / capacity) * 100 };
}
