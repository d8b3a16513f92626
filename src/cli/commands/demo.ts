import type { Logger } from '../../log/logger.ts';
import { startDemo } from '../demo.ts';
import { type CliValues, untilSignal } from '../main.ts';
import type { CliStreams } from '../output.ts';

/** `cloudtether demo [--once] [--json]` */
export async function runDemo(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const demo = await startDemo({ json: values.json, out, logger });
  const ok = await demo.scenario;
  if (values.once || !ok) {
    await demo.stop();
    return ok ? 0 : 1;
  }
  err.write(`\nStill running: the hub lists its devices at ${demo.adminUrl}\nCtrl-C to stop.\n`);
  await untilSignal();
  await demo.stop();
  return 0;
}
