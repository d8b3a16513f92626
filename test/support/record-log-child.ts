// A process that appends to a record log as fast as it can, for crash tests: it prints each
// sequence number once `append` has resolved (durable), and acknowledges now and then.
import { openRecordLog } from '../../src/storage/record-log.ts';

const log = await openRecordLog<{ n: number; pad: string }>(process.argv[2]!, { compactAfter: 50 });
process.stdout.write(`open ${log.lastSeq} ${log.pending().length}\n`);
for (let n = 0; ; n++) {
  // Several appends in flight at once, so group commits and a kill mid-batch both happen.
  const batch = await Promise.all([0, 1, 2].map((i) => log.append({ n: n * 3 + i, pad: 'x'.repeat(200) })));
  process.stdout.write(batch.map((r) => `durable ${r.seq}\n`).join(''));
  if (n % 7 === 6) {
    const upto = batch[0]!.seq;
    // Announced before and after: a kill in between leaves the parent unsure, not wrong.
    process.stdout.write(`acking ${upto}\n`);
    await log.ack(upto);
    process.stdout.write(`acked ${upto}\n`);
  }
}
