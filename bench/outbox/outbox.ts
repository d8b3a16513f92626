/**
 * `npm run bench -- outbox`: durable appends per second through the outbox, with the durability
 * the runtime ships with (group commit, fdatasync), and the recovery of a 100,000-entry outbox
 * after a crash. Each against a baseline measured in the same run on the same disk.
 */
import type { BenchOptions, Report } from '../support/rounds.ts';
import { measureAppends } from './appends.ts';
import { measureRecovery } from './recovery.ts';

/** Runs both outbox benchmarks. */
export async function run(options: BenchOptions): Promise<Report[]> {
  return [await measureAppends(options), await measureRecovery(options)];
}
