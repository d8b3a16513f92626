/**
 * The process the recovery benchmark kills: opens a connector store in `dir` (argv[2]) as the
 * CLI does, and appends jobs' messages through the outbox, 64 at a time, without end. Once
 * `target` (argv[3]) appends are durable it prints `durable <n>` and keeps appending, so the
 * parent's SIGKILL lands mid-write.
 */
import { openConnectorStore } from '../../src/connector/remote-work.ts';
import { jobMessages, runtimeOutbox } from './job-messages.ts';

const [dir, targetArg] = process.argv.slice(2);
if (!dir || !targetArg) throw new Error('usage: crash-writer.ts <dir> <target>');
const target = Number(targetArg);
const store = await openConnectorStore(dir);
const outbox = runtimeOutbox(store.outbox);
let durable = 0;
await Promise.all(
  Array.from({ length: 64 }, async () => {
    for (;;) {
      for (const message of jobMessages()) {
        await outbox.append(message);
        // Synchronous on a pipe: the line is out before the next append can start.
        if (++durable === target) process.stdout.write(`durable ${durable}\n`);
      }
    }
  }),
);
