import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { afterHeldWrites } from '../../src/adapters/write-batch.ts';
import { createMemoryStore, openConnectorStore, RemoteWork, type SessionLink } from '../../src/connector/remote-work.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { usageReportMessage } from '../../src/protocol/built-messages.ts';
import { createCodec } from '../../src/protocol/codec.ts';
import type { Message } from '../../src/protocol/messages.ts';

describe('openConnectorStore', () => {
  it('opens its logs in the directory it is given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cloudtether-store-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const store = await openConnectorStore(dir);
    await Promise.all([store.outbox.close(), store.journal.close(), store.telemetry?.close(), store.channels?.close()]);
    expect((await readdir(dir)).sort()).toEqual(['channels.log', 'executions.log', 'outbox.log', 'telemetry.log']);
  });

  it.each([
    [undefined, 'got undefined'],
    ['', 'got an empty string'],
  ])('refuses %j with a TypeError that says what it needs, before touching the disk', async (dir, got) => {
    await expect(openConnectorStore(dir as unknown as string)).rejects.toThrow(
      new TypeError(`openConnectorStore(dir): dir must be the store's directory path, ${got}`),
    );
  });
});

describe('RemoteWork', () => {
  it("lets go of what the hub acknowledges after the turn's frames are written, then checks the capacity", async () => {
    const clock = new SimulatedClock();
    const now = () => clock.now();
    const capacities: boolean[] = [];
    const work = new RemoteWork({
      deviceId: 'dev-1',
      codec: createCodec({ now, receiver: 'device' }),
      clock,
      logger: silentLogger(),
      store: createMemoryStore(now),
      // One entry fills the outbox: the device is saturated until the hub acknowledges it.
      outboxPolicy: { maxEntries: 1 },
      onResume: () => {},
      onLoss: () => {},
    });
    const sent: string[] = [];
    const link: SessionLink = {
      resume: undefined,
      maxFrameBytes: 1 << 20,
      sendFrame: (frame) => sent.push(frame) > 0,
      send: () => true,
      sendBuilt: (message) => {
        if (message.type === 'capacity') capacities.push(message.saturated);
        return true;
      },
    };
    work.connected(link);
    await work.outbox.appendBuilt(usageReportMessage('r1', 'dev-1', { durationMs: 1, inputTokens: 0, outputTokens: 0, costEstimate: 0 }));
    work.executor.checkCapacity();
    expect([sent.length, capacities]).toEqual([1, [false, true]]);
    const atWrite: number[] = [];
    // What runs right after the turn's write (src/adapters/write-batch.ts) sees what was done before it.
    afterHeldWrites(() => atWrite.push(work.outbox.depth));
    await work.receive({ v: 1, id: 'a-1', ts: 0, type: 'ack', seq: 1 } as Message);
    expect(atWrite).toEqual([1]);
    expect(work.outbox.depth).toBe(0);
    expect(capacities).toEqual([false, true, false]);
  });
});
