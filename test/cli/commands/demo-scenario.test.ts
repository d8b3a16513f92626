import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { startDemo } from '../../../src/cli/commands/demo-scenario.ts';
import { main } from '../../../src/cli/main.ts';
import { silentLogger } from '../../../src/log/logger.ts';
import { parseSession } from '../../../src/recording/format.ts';

describe('the demo recording replays', () => {
  // Real time (a 6 s token refreshed, a hub restart): about 10 s alone, more on a busy machine.
  it('records demo --once and replays it to its last line with replay --check', async () => {
    const recording = join(mkdtempSync(join(tmpdir(), 'ct-demo-')), 'demo.jsonl');
    const sink = new PassThrough();
    sink.resume();
    const demo = await startDemo({ json: true, out: sink, logger: silentLogger(), record: recording });
    try {
      expect(await demo.scenario).toBe(true);
    } finally {
      await demo.stop();
    }
    const session = parseSession(readFileSync(recording, 'utf8'));
    // The handlers' waits are on the connector's clock: each is a timer in the session.
    expect(session.entries.filter(({ entry }) => entry.kind === 'timer' && entry.ms === 250)).toHaveLength(4);
    const out = new PassThrough();
    let printed = '';
    out.on('data', (chunk) => (printed += chunk));
    const code = await main(['replay', recording, '--check'], { out, err: out });
    expect(printed).toBe(`${recording}: replayed all ${session.entries.length} entries; the connector does what the recording did\n`);
    expect(code).toBe(0);
  }, 90_000);
});
