// A connector process for crash tests: a durable store in the directory given, a `work` tool,
// and a line on stdout each time a usage report is on disk (`durable <request_id>`). The parent
// kills it with SIGKILL at random points and starts it again over the same directory.
import { z } from 'zod';
import { createConnector } from '../../src/connector/connector.ts';
import { openConnectorStore } from '../../src/connector/remote-work.ts';

const [url, dir] = process.argv.slice(2) as [string, string];
const store = await openConnectorStore(dir);
const append = store.outbox.append.bind(store.outbox);
store.outbox.append = async (value) => {
  const record = await append(value);
  if (value.message.type === 'usage_report') process.stdout.write(`durable ${value.message.request_id}\n`);
  return record;
};
process.stdout.write(`open ${store.outbox.pending().length} ${store.journal.pending().length}\n`);
const connector = createConnector(
  { url, token: 'crash-token', deviceId: 'crash-dev', tenantId: 'crash', executions: { maxConcurrency: 8, maxQueue: 32 } },
  { store },
);
connector.handle('tool', 'work', {
  input: z.object({ n: z.number() }),
  async run({ n }, ctx) {
    process.stdout.write(`run ${ctx.requestId}\n`);
    // A little real work, so kills land mid-execution too.
    for (let i = 0; i < n % 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    ctx.reportUsage({ inputTokens: n });
    return { n };
  },
});
connector.on('resume', ({ status }) => process.stdout.write(`resume ${status}\n`));
connector.start();
