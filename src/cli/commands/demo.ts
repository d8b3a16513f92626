import type { Logger } from '../../log/logger.ts';
import { startDemo } from '../demo.ts';
import { type CliValues, untilSignal } from '../main.ts';
import type { CliStreams } from '../output.ts';

/** `cloudtether demo [--once] [--json]` */
export async function runDemo(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const signal = untilSignal();
  const demo = await startDemo({ json: values.json, out, logger });
  try {
    const outcome = await Promise.race([demo.scenario, signal.then(() => 'interrupted' as const)]);
    if (outcome === 'interrupted') return 130;
    if (values.once || !outcome) return outcome ? 0 : 1;
    err.write(`\nStill running: the hub lists its devices at ${demo.adminUrl}\nCtrl-C to stop.\n`);
    await signal;
    return 0;
  } finally {
    signal.cancel();
    await demo.stop();
  }
}
