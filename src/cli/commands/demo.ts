import type { Logger } from '../../log/logger.ts';
import { startDemo } from './demo-scenario.ts';
import { inspectOption } from './inspect-option.ts';
import type { CliValues } from './options.ts';
import { untilSignal } from './until-signal.ts';
import type { CliStreams } from './output.ts';

/** `cloudtether demo [--once] [--json] [--inspect [--inspect-port N]]` */
export async function runDemo(values: CliValues, { out, err }: CliStreams, logger: Logger): Promise<number> {
  const inspect = inspectOption(values);
  if (typeof inspect === 'string') {
    err.write(`${inspect}\n`);
    return 2;
  }
  const signal = untilSignal();
  const demo = await startDemo({
    json: values.json,
    out,
    logger,
    ...(inspect && { inspect }),
    ...(values.record && { record: values.record }),
  }).catch((error: unknown) => {
    signal.cancel();
    throw error;
  });
  try {
    const outcome = await Promise.race([demo.scenario, signal.then(() => 'interrupted' as const)]);
    if (outcome === 'interrupted') return 130;
    if (values.once || !outcome) return outcome ? 0 : 1;
    const inspector = demo.inspector ? `; the inspector is at ${demo.inspector.url}` : '';
    err.write(`\nStill running: the hub lists its devices at ${demo.adminUrl}${inspector}\nCtrl-C to stop.\n`);
    await signal;
    return 0;
  } finally {
    signal.cancel();
    await demo.stop();
  }
}
