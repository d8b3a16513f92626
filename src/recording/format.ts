import { z } from 'zod';

/**
 * The session file format (docs/recording.md): JSON Lines, one header line, then one entry per
 * line in the order things happened. Entries are inputs (what the world did to the connector:
 * socket events, HTTP answers, timer firings, host calls) or outputs (what the connector did:
 * socket opens and sends, HTTP requests, state transitions). Replay feeds the inputs and checks
 * the outputs. Secrets are redacted before a line is written.
 */
export const SESSION_FORMAT = 'cloudtether-session';
/**
 * The version this library writes. It reads every version up to this one.
 * 2: `answer` entries (what a host call resolved with), every host call after `start`
 * (`api.*`, `channel.*`, `login`, `logout`, `switchOrganization`, `telemetry.*`), and the
 * store's contents in the header (`store`).
 * 3: `settings.update` is answered like the other host calls (its outcome, or the error it threw),
 * a host call that throws at once is answered with its error, and host calls made before `start`
 * are recorded (in order, before the `start` line).
 */
export const SESSION_VERSION = 3;

const LogRecords = z.object({
  /** The highest sequence number the log had handed out. */
  last_seq: z.number().int().nonnegative(),
  records: z.array(z.object({ seq: z.number().int().positive(), at: z.number(), value: z.unknown() })),
});

/**
 * What the connector's store held when the recording began (redacted): a replay restores it
 * into a memory store, so a session recorded over a persisted outbox, journal or settings cache
 * resends, recovers and loads what the recorded one did.
 */
export const StoreSnapshot = z.object({
  outbox: LogRecords,
  journal: LogRecords,
  telemetry: LogRecords.optional(),
  /** Reliable channel messages waiting for the hub's `channel_ack`, and their numbering. */
  channels: LogRecords.optional(),
  /** Small files by name (`settings.json`), as text. */
  files: z.record(z.string(), z.string()).default({}),
});
export type StoreSnapshot = z.infer<typeof StoreSnapshot>;

export const SessionHeader = z.object({
  kind: z.literal('session'),
  format: z.literal(SESSION_FORMAT),
  version: z.number().int().positive(),
  /** The library version that wrote the file. */
  library: z.string(),
  /** Clock time of the first line, epoch ms. */
  started_at: z.number(),
  /** The connector's parsed config, redacted, with the seed it ran with. */
  config: z.record(z.string(), z.unknown()),
  /** The store's contents at the start (version 2); absent: an empty store. */
  store: StoreSnapshot.optional(),
});
export type SessionHeader = z.infer<typeof SessionHeader>;

/** A frame as recorded: parsed JSON when it was JSON, else its text. */
const Frame = { frame: z.unknown().optional(), text: z.string().optional() };
const at = { at: z.number() };

export const SessionEntry = z.discriminatedUnion('kind', [
  // outputs
  z.object({ kind: z.literal('socket.open'), ...at, conn: z.number().int(), url: z.string() }),
  z.object({ kind: z.literal('socket.send'), ...at, conn: z.number().int(), ...Frame }),
  z.object({ kind: z.literal('socket.close'), ...at, conn: z.number().int(), code: z.number().optional(), reason: z.string().optional() }),
  z.object({ kind: z.literal('socket.terminate'), ...at, conn: z.number().int() }),
  z.object({
    kind: z.literal('http.request'),
    ...at,
    req: z.number().int(),
    method: z.string(),
    url: z.string(),
    headers: z.record(z.string(), z.string()).optional(),
    json: z.unknown().optional(),
  }),
  z.object({
    kind: z.literal('transition'),
    ...at,
    actor: z.string(),
    from: z.array(z.string()),
    to: z.array(z.string()),
    event: z.string(),
    reason: z.string().optional(),
  }),
  // inputs
  z.object({ kind: z.literal('socket.opened'), ...at, conn: z.number().int() }),
  z.object({ kind: z.literal('socket.message'), ...at, conn: z.number().int(), ...Frame }),
  z.object({ kind: z.literal('socket.error'), ...at, conn: z.number().int(), message: z.string() }),
  z.object({ kind: z.literal('socket.closed'), ...at, conn: z.number().int(), code: z.number(), reason: z.string() }),
  z.object({
    kind: z.literal('http.response'),
    ...at,
    req: z.number().int(),
    status: z.number().int(),
    headers: z.record(z.string(), z.string()),
    body: z.unknown().optional(),
  }),
  z.object({ kind: z.literal('http.failed'), ...at, req: z.number().int(), error: z.string(), message: z.string() }),
  /** A timer of `ms` set at `set_at` fired. */
  z.object({ kind: z.literal('timer'), ...at, ms: z.number(), set_at: z.number() }),
  /**
   * The host called the connector: `start`, `stop`, `send` (`args[0]` the message),
   * `settings.update` (`args[0]` the patch); from version 2 also `api.<method>` (the API
   * client), `channel.join` / `channel.leave` / `channel.send` (`args[0]` the channel),
   * `login`, `logout`, `switchOrganization`, `telemetry.setConsent`, `telemetry.track`.
   */
  z.object({ kind: z.literal('host'), ...at, call: z.string(), args: z.array(z.unknown()).optional() }),
  /** What a host call of version 2 resolved with (`value`) or the error it rejected with (from version 3: or threw). */
  z.object({ kind: z.literal('answer'), ...at, call: z.string(), value: z.unknown().optional(), error: z.string().optional() }),
  /** The last line: the connector stopped, or the file reached its size limit. */
  z.object({ kind: z.literal('end'), ...at, reason: z.enum(['stopped', 'size_limit']) }),
]);
export type SessionEntry = z.infer<typeof SessionEntry>;
export type SessionEntryOf<K extends SessionEntry['kind']> = Extract<SessionEntry, { kind: K }>;

/** What the connector does (checked on replay), as opposed to what happens to it (fed on replay). */
export const OUTPUT_KINDS: ReadonlySet<SessionEntry['kind']> = new Set([
  'socket.open',
  'socket.send',
  'socket.close',
  'socket.terminate',
  'http.request',
  'transition',
  'answer',
]);

/** A session file that cannot be read: not a session, a newer version, or a bad line. */
export class SessionFileError extends Error {
  override readonly name = 'SessionFileError';
  constructor(
    readonly code: 'not_a_session' | 'unsupported_version' | 'bad_entry',
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** A parsed session: its header and entries with their line numbers. */
export interface SessionFile {
  header: SessionHeader;
  entries: Array<{ line: number; entry: SessionEntry }>;
}

/**
 * Parses a session file's text. Reads every version up to {@link SESSION_VERSION}; a newer one is
 * refused with `unsupported_version` instead of being half understood. A last line cut short (the
 * process died while writing) is dropped; any other bad line is an error with its number.
 *
 * @throws {SessionFileError}
 */
export function parseSession(text: string): SessionFile {
  const lines = text.split('\n');
  while (lines.length > 0 && lines.at(-1)!.trim() === '') lines.pop();
  let first: unknown;
  try {
    first = JSON.parse(lines[0] ?? '');
  } catch {
    throw new SessionFileError('not_a_session', 'the first line is not JSON: not a cloudtether session file', 1);
  }
  const header = SessionHeader.safeParse(first);
  if (!header.success) throw new SessionFileError('not_a_session', 'the first line is not a cloudtether session header', 1);
  if (header.data.version > SESSION_VERSION) {
    throw new SessionFileError(
      'unsupported_version',
      `session format version ${header.data.version} is newer than this library reads (${SESSION_VERSION}); upgrade cloudtether`,
      1,
    );
  }
  const entries: SessionFile['entries'] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]!);
    } catch {
      if (i === lines.length - 1) break; // cut short by a crash
      throw new SessionFileError('bad_entry', `line ${line} is not JSON`, line);
    }
    const entry = SessionEntry.safeParse(value);
    if (!entry.success)
      throw new SessionFileError('bad_entry', `line ${line}: ${entry.error.issues[0]?.message ?? 'not a session entry'}`, line);
    entries.push({ line, entry: entry.data });
  }
  return { header: header.data, entries };
}
