import type { HttpAdapter } from '../adapters/http.ts';
import type { SocketAdapter } from '../adapters/socket.ts';
import type { RuntimeClock } from '../util/clock.ts';
import type { InspectionStream } from '../inspection-events/stream.ts';
import type { StoreSnapshot } from './format.ts';
import { type RecordOptions, SessionRecorder } from './recorder.ts';
import { recordingClock, recordingHttp, recordingSocket } from './recording-adapters.ts';

/** The parts of a connector a recording sits between, and what it gives back. */
export interface SessionRecording {
  clock: RuntimeClock;
  socket: SocketAdapter;
  http: HttpAdapter;
  /** Records a host call (`start`, `stop`, `send`, `settings.update`, …) with its arguments, redacted. */
  host(call: string, ...args: unknown[]): void;
  /** Records what a host call resolved with, or the message it rejected with, redacted. */
  answer(call: string, outcome: { value: unknown } | { error: string }): void;
  /** Writes the `end` line and closes the file. */
  end(): Promise<void>;
}

/**
 * Starts recording one connector's session: wraps its clock, socket and HTTP adapters, writes the
 * header (config redacted, with the seed so a replay makes the same random choices), and follows
 * the inspection stream for transitions. Used by `createConnector` with the `record` option.
 */
export function startSessionRecording(options: {
  record: RecordOptions;
  library: string;
  config: Record<string, unknown>;
  clock: RuntimeClock;
  socket: SocketAdapter;
  http: HttpAdapter;
  redact: <T>(value: T) => T;
  /** The store's contents (redacted) when it was given: the header keeps them. */
  store?: Promise<StoreSnapshot>;
}): SessionRecording & { follow(inspection: InspectionStream): void } {
  const { redact } = options;
  const recorder = new SessionRecorder({ ...options.record, now: () => options.clock.now() });
  recorder.header(options.library, redact(options.config), options.store);
  let unfollow: () => void = () => {};
  return {
    clock: recordingClock(options.clock, recorder),
    socket: recordingSocket(options.socket, recorder, redact),
    http: recordingHttp(options.http, recorder, redact),
    host(call, ...args) {
      recorder.write({ kind: 'host', call, ...(args.length > 0 && { args: redact(args) }) });
    },
    answer(call, outcome) {
      recorder.write({
        kind: 'answer',
        call,
        ...('value' in outcome ? outcome.value !== undefined && { value: redact(outcome.value) } : { error: redact(outcome.error) }),
      });
    },
    follow(inspection) {
      unfollow = inspection.subscribe((record) => {
        if (record.type !== 'transition') return;
        const actor = record.actor;
        recorder.write({
          kind: 'transition',
          actor,
          from: record.from,
          to: record.to,
          event: record.event.type,
          ...(record.reason !== undefined && { reason: record.reason }),
        });
      });
    },
    async end() {
      unfollow();
      await recorder.end();
    },
  };
}
