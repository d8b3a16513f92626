import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/adapters/storage.ts';
import { afterHeldWrites } from '../../src/adapters/write-batch.ts';
import { InboundDelivery } from '../../src/delivery/inbound.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { deferred, settle } from '../support/execution-fixture.ts';

const answer = (hubEpoch: string) => ({ status: 'resumed' as const, hubEpoch, missed: 0 });

describe('inbound delivery', () => {
  it('processes in order and acknowledges cumulatively, once per burst, after the work is done', async () => {
    const inbound = new InboundDelivery(silentLogger());
    const acks: number[] = [];
    inbound.connected(answer('e1'), (seq) => acks.push(seq));
    const order: number[] = [];
    for (const seq of [1, 2, 3]) void inbound.process(seq, async () => void order.push(seq));
    await inbound.idle();
    await settle();
    expect(order).toEqual([1, 2, 3]);
    expect(acks).toEqual([3]);
    expect(inbound.cursor()).toEqual({ hub_epoch: 'e1', last_seq: 3 });
    // A redelivery is acknowledged again, not processed.
    void inbound.process(2, async () => void order.push(99));
    await settle();
    expect(order).toEqual([1, 2, 3]);
    expect(acks).toEqual([3, 3]);
  });

  it('never acknowledges past a message whose work failed; the next session takes it again', async () => {
    const inbound = new InboundDelivery(silentLogger());
    const acks: number[] = [];
    inbound.connected(answer('e1'), (seq) => acks.push(seq));
    void inbound.process(1, async () => {});
    void inbound.process(2, async () => {
      throw new Error('disk full');
    });
    void inbound.process(3, async () => {});
    await inbound.idle();
    await settle();
    expect(acks.at(-1)).toBe(1);
    expect(inbound.cursor().last_seq).toBe(1);
    inbound.connected(answer('e1'), (seq) => acks.push(seq));
    const again: number[] = [];
    for (const seq of [2, 3]) void inbound.process(seq, async () => void again.push(seq));
    await inbound.idle();
    await settle();
    expect(again).toEqual([2, 3]);
    expect(acks.at(-1)).toBe(3);
  });

  it('starts with a cursor that names no epoch, and takes the epoch of its first session', async () => {
    const inbound = new InboundDelivery(silentLogger());
    // What a connector sends on its first connect, and after its process restarts.
    expect(inbound.cursor()).toEqual({ last_seq: 0 });
    inbound.connected(answer('e1'), () => {});
    expect(inbound.cursor()).toEqual({ hub_epoch: 'e1', last_seq: 0 });
    await inbound.process(1, async () => {});
    expect(inbound.cursor()).toEqual({ hub_epoch: 'e1', last_seq: 1 });
  });

  it('starts numbering again under a new hub epoch', async () => {
    const inbound = new InboundDelivery(silentLogger());
    inbound.connected(answer('e1'), () => {});
    await inbound.process(5, async () => {});
    inbound.connected(answer('e2'), () => {});
    expect(inbound.cursor()).toEqual({ hub_epoch: 'e2', last_seq: 0 });
    let ran = false;
    await inbound.process(1, async () => void (ran = true));
    expect(ran).toBe(true);
  });

  it('refuses a message it cannot store with a nack, acknowledges the rest only below it, and passes it once the hub sends it again', async () => {
    const inbound = new InboundDelivery(silentLogger());
    const acks: number[] = [];
    const nacks: number[] = [];
    inbound.connected(
      answer('e1'),
      (seq) => acks.push(seq),
      (seq) => nacks.push(seq),
    );
    const full = async () => {
      throw new StorageError('/state/executions.log', 'cannot write (ENOSPC)');
    };
    void inbound.process(1, async () => {}, 'execution_request:a');
    void inbound.process(2, full, 'execution_request:b');
    void inbound.process(3, async () => {}, 'execution_request:c');
    await inbound.idle();
    await settle();
    expect(nacks).toEqual([2]);
    expect(inbound.refused).toBe(1);
    // 3 is done, but an ack of 3 would cover the refused 2: a lost nack would lose it.
    expect(acks.at(-1)).toBe(1);
    expect(inbound.cursor().last_seq).toBe(1);
    // The hub has the nack: it sends b again under a new number, and acks pass.
    let ranB = false;
    await inbound.process(4, async () => void (ranB = true), 'execution_request:b');
    await settle();
    expect(ranB).toBe(true);
    expect(inbound.refused).toBe(0);
    expect(acks.at(-1)).toBe(4);
  });

  it('resumes from below a refused message on a new session, so a nack lost with its connection loses nothing', async () => {
    const inbound = new InboundDelivery(silentLogger());
    inbound.connected(
      answer('e1'),
      () => {},
      () => {},
    );
    await inbound.process(1, async () => {}, 'execution_request:a');
    await inbound.process(
      2,
      async () => {
        throw new StorageError('/state/executions.log', 'cannot write (ENOSPC)');
      },
      'execution_request:b',
    );
    await inbound.process(3, async () => {}, 'execution_request:c');
    inbound.connected(
      answer('e1'),
      () => {},
      () => {},
    );
    expect(inbound.cursor()).toEqual({ hub_epoch: 'e1', last_seq: 1 });
    expect(inbound.refused).toBe(0);
    // The hub never saw the nack: it sends 2 and 3 again under their numbers.
    const ran: number[] = [];
    for (const seq of [2, 3])
      await inbound.process(seq, async () => void ran.push(seq), seq === 2 ? 'execution_request:b' : 'execution_request:c');
    expect(ran).toEqual([2, 3]);
    expect(inbound.cursor().last_seq).toBe(3);
  });

  it("acknowledges work done within the turn before the turn's held frames are written, so both leave in one write", async () => {
    const inbound = new InboundDelivery(silentLogger());
    const order: string[] = [];
    inbound.connected(answer('e1'), (seq) => order.push(`ack ${seq}`));
    // What runs right after the write batch's write (src/adapters/write-batch.ts) marks the write.
    void inbound.process(1, async () => afterHeldWrites(() => order.push('written')));
    await settle();
    expect(order).toEqual(['ack 1', 'written']);
  });

  it('sends no ack while the work is still running, and one once it is done', async () => {
    const inbound = new InboundDelivery(silentLogger());
    const acks: number[] = [];
    inbound.connected(answer('e1'), (seq) => acks.push(seq));
    const stored = deferred();
    void inbound.process(1, () => stored.promise);
    await settle();
    expect(acks).toEqual([]);
    stored.resolve();
    await inbound.idle();
    await settle();
    expect(acks).toEqual([1]);
  });
});
