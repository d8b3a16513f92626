import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DeviceJournal, DeviceQueue, type QueuedMessage, type ReliableDeviceMessage } from '../../../src/hub/delivery/device-queue.ts';

type Op =
  | { kind: 'request' }
  | { kind: 'cancel'; of: number }
  | { kind: 'next' }
  | { kind: 'ack'; back: number }
  | { kind: 'refused'; back: number }
  | { kind: 'reportedOn'; of: number }
  | { kind: 'room' };

/** What the model keeps of an entry out at the device. */
type Out = { seq: number; type: ReliableDeviceMessage['type']; request_id: string };

const outOf = (entry: QueuedMessage): Out => ({ seq: entry.seq, type: entry.message.type, request_id: entry.message.request_id });

/** A journal that records which entries left `unacked` as the device has them. */
function recordingJournal(acked: Out[][]): DeviceJournal {
  return {
    enqueued: () => {},
    sent: () => {},
    acked: (entries) => void acked.push(entries.map(outOf)),
    returned: () => {},
    removed: () => {},
    expiredTold: () => {},
    settled: () => undefined,
  };
}

describe('DeviceQueue', () => {
  it('takes out of what is unacknowledged what a plain list of it would: by ack, by refusal, and by a report on a request', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant({ kind: 'request' as const }),
      fc.record({ kind: fc.constant('cancel' as const), of: fc.nat(30) }),
      fc.constant({ kind: 'next' as const }),
      fc.constant({ kind: 'next' as const }),
      fc.record({ kind: fc.constant('ack' as const), back: fc.nat(6) }),
      fc.record({ kind: fc.constant('refused' as const), back: fc.nat(6) }),
      fc.record({ kind: fc.constant('reportedOn' as const), of: fc.nat(30) }),
      fc.constant({ kind: 'room' as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const acked: Out[][] = [];
        const queue = new DeviceQueue(4, recordingJournal(acked));
        // The model: what is out, in the order sent, and what each step must have told the journal.
        let model: Out[] = [];
        const expectedAcked: Out[][] = [];
        let requests = 0;
        let lastSeq = 0;
        for (const o of ops) {
          if (o.kind === 'request') {
            // Request ids are unique, as the hub's are (`duplicate_request`).
            queue.enqueue({ type: 'execution_request', request_id: `r${++requests}`, job_type: 'tool', tool_name: 'echo' }, 0);
          } else if (o.kind === 'cancel') {
            queue.enqueue({ type: 'execution_cancel', request_id: `r${o.of}`, reason: 'test' }, 0);
          } else if (o.kind === 'next') {
            const entry = queue.next();
            if (entry) {
              model.push(outOf(entry));
              lastSeq = entry.seq;
            }
          } else if (o.kind === 'ack') {
            const seq = Math.max(0, lastSeq - o.back);
            const gone = model.filter((out) => out.seq <= seq);
            model = model.filter((out) => out.seq > seq);
            if (gone.length > 0) expectedAcked.push(gone);
            queue.ack(seq);
          } else if (o.kind === 'refused') {
            const seq = Math.max(0, lastSeq - o.back);
            const index = model.findIndex((out) => out.seq === seq);
            const entry = queue.refused(seq);
            expect(entry === undefined).toBe(index === -1);
            if (index !== -1) model.splice(index, 1);
          } else if (o.kind === 'reportedOn') {
            const requestId = `r${o.of}`;
            const index = model.findIndex((out) => out.type === 'execution_request' && out.request_id === requestId);
            if (index !== -1) expectedAcked.push(model.splice(index, 1));
            queue.reportedOn(requestId);
          } else {
            // The device has room again: what was refused goes out anew.
            queue.held = false;
            queue.outstanding.clear();
          }
          expect(queue.unacked().map(outOf)).toEqual(model);
        }
        expect(acked).toEqual(expectedAcked);
      }),
    );
  });

  it('numbers a request once it is sent, and forgets it when the device reports on it before acknowledging it', () => {
    const queue = new DeviceQueue(16);
    queue.enqueue({ type: 'execution_request', request_id: 'r1', job_type: 'tool', tool_name: 'echo' }, 0);
    queue.enqueue({ type: 'execution_request', request_id: 'r2', job_type: 'tool', tool_name: 'echo' }, 0);
    expect([queue.next()?.seq, queue.next()?.seq]).toEqual([1, 2]);
    queue.reportedOn('r2');
    queue.reportedOn('r2');
    expect(queue.unacked().map((entry) => entry.message.request_id)).toEqual(['r1']);
    queue.ack(2);
    expect(queue.unacked()).toEqual([]);
    expect(queue.size).toBe(0);
  });
});
