import { createMemoryStorage } from '../adapters/storage.ts';
import type { StoreSnapshot } from '../recording/format.ts';
import { createMemoryRecordLog, type RecordLog } from '../storage/record-log.ts';
import { SETTINGS_CACHE } from './settings.ts';
import type { ConnectorStore } from './remote-work.ts';

/** The small files a store holds that a replay needs: the settings cache. */
const SNAPSHOT_FILES = [SETTINGS_CACHE];

/**
 * What `store` holds now, redacted, for a session recording's header: the pending records of the
 * outbox, the journal, the telemetry queue and the reliable channel messages with their sequence
 * numbers, and the settings cache. Taken when the recording starts, before `start()` reads or writes any of it.
 */
export async function snapshotStore(store: ConnectorStore, redact: <T>(value: T) => T): Promise<StoreSnapshot> {
  const records = <T>(log: RecordLog<T>) => ({
    last_seq: log.lastSeq,
    records: log.pending().map(({ seq, at, value }) => ({ seq, at, value: redact(value) as unknown })),
  });
  // The logs now, before the first await: `start()` may append (a recovered request) right after.
  const logs = {
    outbox: records(store.outbox),
    journal: records(store.journal),
    ...(store.telemetry && { telemetry: records(store.telemetry) }),
    ...(store.channels && { channels: records(store.channels) }),
  };
  const files: Record<string, string> = {};
  for (const name of SNAPSHOT_FILES) {
    const data = await store.files?.read(name).catch(() => undefined);
    if (data !== undefined) files[name] = redactText(data.toString('utf8'), redact);
  }
  return { ...logs, files };
}

/**
 * A memory store holding what a recording's header says the recorded store held: a replay starts
 * from the same outbox, journal, telemetry queue, reliable channel messages and settings cache.
 */
export async function restoreStore(snapshot: StoreSnapshot | undefined, now: () => number): Promise<ConnectorStore> {
  const files = createMemoryStorage();
  for (const [name, text] of Object.entries(snapshot?.files ?? {})) await files.write(name, text);
  const log = <T>(part: StoreSnapshot['outbox'] | undefined) =>
    createMemoryRecordLog<T>({
      now,
      ...(part && { initial: { lastSeq: part.last_seq, records: part.records as Array<{ seq: number; at: number; value: T }> } }),
    });
  return {
    outbox: log(snapshot?.outbox),
    journal: log(snapshot?.journal),
    telemetry: log(snapshot?.telemetry),
    channels: log(snapshot?.channels),
    files,
  };
}

/** A file's text redacted field by field when it is JSON (a secret-named key), else as text. */
function redactText(text: string, redact: <T>(value: T) => T): string {
  try {
    return `${JSON.stringify(redact(JSON.parse(text) as unknown))}\n`;
  } catch {
    return redact(text);
  }
}
