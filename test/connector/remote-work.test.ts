import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import { afterHeldWrites } from '../../src/adapters/write-batch.ts';
import { createMemoryStore, openConnectorStore, RemoteWork, type SessionLink } from '../../src/connector/remote-work.ts';
import type { OutboxPolicy } from '../../src/delivery/outbox.ts';
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

/** Remote work over a memory store, connected to a link that keeps what it is given. */
function linkedWork(outboxPolicy: Partial<OutboxPolicy>) {
  const clock = new SimulatedClock();
  const now = () => clock.now();
  const store = createMemoryStore(now);
  const work = new RemoteWork({
    deviceId: 'dev-1',
    codec: createCodec({ now, receiver: 'device' }),
    clock,
    logger: silentLogger(),
    store,
    outboxPolicy,
    onResume: () => {},
    onLoss: () => {},
  });
  const sent: string[] = [];
  const capacities: boolean[] = [];
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
  const report = (requestId: string) =>
    work.outbox.appendBuilt(usageReportMessage(requestId, 'dev-1', { durationMs: 1, inputTokens: 0, outputTokens: 0, costEstimate: 0 }));
  const ack = (seq: number) => work.receive({ v: 1, id: `a-${seq}`, ts: 0, type: 'ack', seq } as Message);
  return { work, store, sent, capacities, report, ack };
}

describe('RemoteWork', () => {
  it("lets go of what the hub acknowledges after the turn's frames are written, then checks the capacity", async () => {
    // One entry fills the outbox: the device is saturated until the hub acknowledges it.
    const { work, sent, capacities, report, ack } = linkedWork({ maxEntries: 1 });
    await report('r1');
    work.executor.checkCapacity();
    expect([sent.length, capacities]).toEqual([1, [false, true]]);
    const atWrite: number[] = [];
    // What runs right after the turn's write (src/adapters/write-batch.ts) sees what was done before it.
    afterHeldWrites(() => atWrite.push(work.outbox.depth));
    await ack(1);
    expect(atWrite).toEqual([1]);
    expect(work.outbox.depth).toBe(0);
    expect(capacities).toEqual([false, true, false]);
  });

  it("takes an ack at once while entries wait for the window: what it lets out goes in the turn's write", async () => {
    const { work, sent, report, ack } = linkedWork({ window: 1 });
    await report('r1');
    await report('r2');
    expect([sent.length, work.outbox.unsent]).toEqual([1, true]);
    const sentAtWrite = new Promise<number>((resolve) => afterHeldWrites(() => resolve(sent.length)));
    await ack(1);
    expect(await sentAtWrite).toBe(2);
    expect(work.outbox.unsent).toBe(false);
  });

  it('records an ack taken in the turn it stops before it closes the store', async () => {
    const { work, store, report, ack } = linkedWork({});
    await work.recover();
    await report('r1');
    const acked = ack(1);
    await work.stop();
    await acked;
    // Recorded, not lost to a closed log (which would send r1 again on the next start).
    expect(store.outbox.pending()).toEqual([]);
  });
});
