import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { replaySession } from '../../src/recording/replay.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';

describe('record and replay', () => {
  it('replays a session recorded against the real hub', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ct-rec-')), 'session.jsonl');
    const { url } = await startHub();
    const clock = new SimulatedClock();
    const { connector } = startConnector(url, {}, clock, { record: { file } });
    connector.start();
    await connected(connector);
    const stopped = connector.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await until(() => done, () => clock.increment(100));
    console.log(readFileSync(file, 'utf8'));
    const result = await replaySession(file);
    console.log(result.divergence?.message);
    expect(result.ok).toBe(true);
  });
});
