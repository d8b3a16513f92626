import { ByteReader, ByteWriter } from '../../util/byte-form.ts';
import { NameNumbers } from '../../util/name-numbers.ts';
import type { ExecutionEventRecord, ExecutionSnapshot, ExecutionStatus } from './executions.ts';

/**
 * Fields per event in a record's `events` (src/hub/delivery/executions.ts's `Tracked.events`): its
 * id (or suffix), type, data and time of receipt. Here, not there: executions.ts imports this file.
 */
export const STRIDE = 4;
/** A name's number that says the name itself follows. */
const WRITTEN_OUT = 0xffff;
/**
 * Names given numbers, at most: device and tenant ids, job types, statuses, event types and
 * suffixes. Past that, new ones are written out in each record: a hub that meets ever more
 * devices does not grow the table for its life.
 */
const MAX_NAMES = 1_024;
/** An event id's kind: the id itself, or the suffix after its request id (`:accepted`: executions.ts shares these). */
const WHOLE_ID = 0;
const SUFFIX_ID = 1;
/** The outcome's place when it is no event's data: written after the events. */
const OUTCOME_AFTER = -1;

/** What the form reads of a finished record (src/hub/delivery/executions.ts keeps more). */
export interface FinishedRecord {
  readonly device_id: string;
  readonly tenant_id: string;
  readonly job_type: string;
  readonly status: string;
  readonly created_at: number;
  readonly updated_at: number;
  /** {@link STRIDE} per event: its id (a string, or `{ suffix }` after the request id), type, data and time of receipt. */
  readonly events: readonly unknown[];
  readonly outcome: Record<string, unknown> | undefined;
}

/**
 * A finished execution record as bytes, for keeping off the heap (src/hub/delivery/finished-records.ts),
 * and the snapshot read back from them: what a structured clone of the record gives.
 *
 * The record was JSON text: every value checked to be one JSON gives back as a clone does, then
 * serialised, its five times as decimals and its names as quoted strings, every record
 * (bench/round-trip). Here what most records share is a number: device, tenant, job type, status,
 * event types and id suffixes are names numbered once per form; times are 64-bit floats; the
 * events' data (and an outcome that is no event's data) are written by {@link ByteWriter.value},
 * which checks and writes in one walk. A record it cannot write exactly (data holding a `Date`,
 * an object twice) is declined: {@link encode} gives undefined, and the record is kept as the object.
 *
 * Layout: device, tenant, job type, status (names: a u16 number, or 0xffff and the string);
 * created and updated times (f64); events (u32); the outcome's event (i32, -1: written after the
 * events); per event its id's kind (u8: whole, or a suffix), its suffix as a name or the whole id
 * as a string (ids are not numbered: they are many), its type (a name), its time (f64) and its
 * data; then the outcome, when it is no event's.
 *
 * @example
 * const form = new FinishedForm();
 * const length = form.encode(tracked);
 * if (length !== undefined) finished.addBytes(tracked.request_id, form.bytes, length);
 * form.snapshot('req_1', finished.get('req_1'));
 */
export class FinishedForm {
  readonly #writer = new ByteWriter();
  readonly #names = new NameNumbers(MAX_NAMES);

  /** Where {@link encode} writes: its first `length` bytes are the record's. */
  get bytes(): Buffer {
    return this.#writer.bytes;
  }

  /**
   * Writes `record` in the form; its length in bytes, or undefined when the form would not give
   * it back exactly (data a clone would give otherwise, a field not of its type): keep the object then.
   */
  encode(record: FinishedRecord): number | undefined {
    const writer = this.#writer;
    let written = false;
    try {
      written = this.#write(record);
    } finally {
      // The objects met let go of, written or declined (or thrown by a getter): the record's data is not held here until the next.
      writer.forgetMet();
    }
    return written ? writer.at : undefined;
  }

  /** {@link encode}'s writing: false when the record is declined. */
  #write(record: FinishedRecord): boolean {
    const { events, outcome } = record;
    const writer = this.#writer;
    let outcomeAt = OUTCOME_AFTER;
    for (let i = events.length - STRIDE; i >= 0; i -= STRIDE) {
      if (events[i + 2] === outcome) {
        outcomeAt = i / STRIDE;
        break;
      }
    }
    writer.reset();
    if (!this.#name(record.device_id) || !this.#name(record.tenant_id) || !this.#name(record.job_type) || !this.#name(record.status))
      return false;
    if (typeof record.created_at !== 'number' || typeof record.updated_at !== 'number') return false;
    writer.f64(record.created_at);
    writer.f64(record.updated_at);
    writer.u32(events.length / STRIDE);
    writer.i32(outcomeAt);
    for (let i = 0; i < events.length; i += STRIDE) {
      const id = events[i] as string | { readonly suffix: string };
      if (typeof id === 'string') {
        writer.u8(WHOLE_ID);
        writer.string(id);
      } else {
        writer.u8(SUFFIX_ID);
        if (!this.#name(id.suffix)) return false;
      }
      const time = events[i + 3];
      if (!this.#name(events[i + 1]) || typeof time !== 'number') return false;
      writer.f64(time);
      // An object in two events' data is declined (the writer meets it twice): read back apart, it would be two.
      if (!writer.value(events[i + 2])) return false;
    }
    return outcomeAt !== OUTCOME_AFTER || writer.value(outcome);
  }

  /** The device and tenant of the record `bytes` ({@link encode}). */
  owner(bytes: Buffer): [deviceId: string, tenantId: string] {
    const reader = new ByteReader(bytes);
    const deviceId = this.#readName(reader);
    return [deviceId, this.#readName(reader)];
  }

  /** The snapshot of the record `bytes` ({@link encode}) kept under `requestId`: what a structured clone of the record gives. */
  snapshot(requestId: string, bytes: Buffer): ExecutionSnapshot {
    const reader = new ByteReader(bytes);
    const deviceId = this.#readName(reader);
    const tenantId = this.#readName(reader);
    const jobType = this.#readName(reader) as ExecutionSnapshot['job_type'];
    const status = this.#readName(reader) as ExecutionStatus;
    const createdAt = reader.f64();
    const updatedAt = reader.f64();
    const count = reader.u32();
    const outcomeAt = reader.i32();
    const events: ExecutionEventRecord[] = [];
    for (let e = 0; e < count; e++) {
      const eventId = reader.u8() === SUFFIX_ID ? requestId + this.#readName(reader) : reader.string();
      const eventType = this.#readName(reader) as ExecutionEventRecord['event_type'];
      const receivedAt = reader.f64();
      // Laid out as executions.ts's eventAt lays an event out.
      events.push({ event_id: eventId, event_type: eventType, data: reader.value() as Record<string, unknown>, received_at: receivedAt });
    }
    const snapshot: ExecutionSnapshot = {
      request_id: requestId,
      device_id: deviceId,
      tenant_id: tenantId,
      job_type: jobType,
      status,
      created_at: createdAt,
      updated_at: updatedAt,
      events,
    };
    // The terminal event's data object itself, as in the record (a structured clone keeps that).
    const outcome = outcomeAt === OUTCOME_AFTER ? (reader.value() as Record<string, unknown> | undefined) : events[outcomeAt]!.data;
    // Left out when there is none, as executions.ts's snapshotOf leaves it.
    if (outcome !== undefined) snapshot.outcome = outcome;
    return snapshot;
  }

  /** Writes `name` as its number, numbering it while there is room; false when it is not a string. */
  #name(name: unknown): boolean {
    if (typeof name !== 'string') return false;
    const number = this.#names.numberOf(name);
    if (number !== undefined) this.#writer.u16(number);
    else {
      this.#writer.u16(WRITTEN_OUT);
      this.#writer.string(name);
    }
    return true;
  }

  #readName(reader: ByteReader): string {
    const number = reader.u16();
    return number === WRITTEN_OUT ? reader.string() : this.#names.nameOf(number);
  }
}
