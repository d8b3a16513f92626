import { readFile } from 'node:fs/promises';
import { HttpError, type HttpErrorKind } from '../adapters/http.ts';
import type { ConnectorConfigInput } from '../connector/config.ts';
import { createConnector } from '../connector/connector.ts';
import type { Connector, ConnectorOptions } from '../connector/connector-types.ts';
import type { ChannelHandle } from '../connector/channels.ts';
import { restoreStore } from '../connector/store-snapshot.ts';
import { createRedactor } from '../inspection-events/redact.ts';
import { compareValues, IdPairs, type Mismatch } from './compare.ts';
import { OUTPUT_KINDS, parseSession, type SessionEntry, type SessionFile } from '../recording/format.ts';
import { frameEntry, redactUrl } from '../recording/recording-adapters.ts';
import { ReplayClock, ReplayHttpAdapter, type ReplayOutput, ReplaySocketAdapter } from './replay-adapters.ts';
import { formatEntry } from '../recording/timeline.ts';
import { getOrCreate } from '../util/get-or-create.ts';

/** Options of {@link replaySession}. */
export interface ReplayOptions {
  /**
   * Sets the connector up as the recorded host did: the same handlers (`connector.handle`),
   * messaging handlers, capability reload hook. Host calls are replayed from the file (`start`,
   * `stop`, `send`, `settings.update`; from version 2 also the API client, channel joins, leaves
   * and sends, `login`, `logout`, `switchOrganization`, telemetry; from version 3 those made
   * before `start()` too). For a version 1 or 2 file, `setup` also joins the channels the
   * recorded host joined before `start()`.
   */
  setup?: (connector: Connector, clock: ReplayClock) => void;
  /** Config on top of the recorded one: to check what a changed policy would do to this session. */
  config?: Partial<ConnectorConfigInput>;
  /** More connector options (a settings schema, `inspection.secretKeys` as when recorded). */
  connector?: Pick<ConnectorOptions, 'settings' | 'inspection' | 'logger'>;
  /**
   * Fields not compared: keys (`ts`) or dotted path suffixes (`runtime.version`). Default
   * {@link DEFAULT_IGNORED}: times and durations, and the library version in `connect`.
   */
  ignore?: readonly string[];
}

/** Fields a replay does not reproduce: wall-clock stamps, measured durations, the library version. */
export const DEFAULT_IGNORED: readonly string[] = ['ts', 'duration_ms', 'runtime.version'];

/** The first step where the replayed connector did not do what the recorded one did. */
export interface ReplayDivergence {
  /** Line of the session file where the replay departed from it. */
  line: number;
  /** Recorded time of that line, ms since the session started. */
  at: number;
  kind:
    | 'different_output'
    | 'missing_output'
    | 'unexpected_output'
    | 'missing_timer'
    | 'missing_connection'
    | 'missing_request'
    | 'host_call_failed';
  /** The recorded entry (what should have happened). */
  expected?: unknown;
  /** What the replayed connector did instead, if anything. */
  actual?: unknown;
  /** Where inside the entry they differ (`frame.payload.status`). */
  path?: string;
  /** The recorded timeline just before the divergence. */
  context: string[];
  /** All of the above in a few lines. */
  message: string;
}

export interface ReplayResult {
  ok: boolean;
  /** Entries of the file replayed (up to the divergence). */
  replayed: number;
  entries: number;
  divergence?: ReplayDivergence;
}

type Entry = { line: number; entry: SessionEntry };
type Comparable = { stream: string; value: Record<string, unknown>; req?: number };

/**
 * Replays a recorded session (docs/recording.md) and checks that this version of the connector
 * does what the recorded one did. It builds a connector from the recorded config and seed with
 * replay adapters (no network) and a {@link ReplayClock}, feeds it the recorded inbound frames,
 * HTTP answers, timer firings and host calls at their recorded times, and compares what it
 * sends, requests and which transitions it takes with the file. It stops at the first
 * difference and reports it with the timeline around it.
 *
 * @example
 * const result = await replaySession('test/fixtures/sessions/clean.jsonl', { setup: registerHandlers });
 * expect(result.divergence?.message).toBeUndefined();
 *
 * @throws {SessionFileError} when the file is not a session this version reads.
 */
export async function replaySession(file: string, options: ReplayOptions = {}): Promise<ReplayResult> {
  return replayParsed(parseSession(await readFile(file, 'utf8')), options);
}

/** {@link replaySession} on a session already parsed. */
export async function replayParsed(session: SessionFile, options: ReplayOptions = {}): Promise<ReplayResult> {
  const { header, entries } = session;
  const ignore = options.ignore ?? DEFAULT_IGNORED;
  const ids = new IdPairs();
  const redact = createRedactor({ secretKeys: options.connector?.inspection?.secretKeys ?? [] });
  const clock = new ReplayClock(header.started_at);
  const actual = new Map<string, Comparable[]>();
  const expected = new Map<string, Entry[]>();
  const lastLineOf = new Map<string, number>(); // last recorded output of each stream
  const reqOf = new Map<number, number>(); // recorded request number → replayed one
  const closedConnections = new Set<number>();
  const maxAckOf = new Map<string, number>(); // highest ack the recorded connector sent on each connection
  const ackLinesOf = new Map<string, Map<number, number>>(); // recorded acks not matched yet: seq → how many
  for (const item of entries) {
    if (!OUTPUT_KINDS.has(item.entry.kind)) continue;
    const stream = streamOf(item.entry);
    lastLineOf.set(stream, item.line);
    const seq = ackSeq(comparableEntry(item.entry));
    if (seq === undefined) continue;
    maxAckOf.set(stream, Math.max(seq, maxAckOf.get(stream) ?? -1));
    const acks = getOrCreate(ackLinesOf, stream, () => new Map<number, number>());
    acks.set(seq, (acks.get(seq) ?? 0) + 1);
  }

  const push = (out: Comparable) => void getOrCreate(actual, out.stream, () => []).push(out);
  const onOutput = (out: ReplayOutput) => push(comparableOutput(out, redact));
  const socket = new ReplaySocketAdapter(onOutput);
  const http = new ReplayHttpAdapter(onOutput);
  const connector = createConnector({ ...header.config, ...options.config } as ConnectorConfigInput, {
    ...options.connector,
    clock,
    socket,
    http,
    // What the recorded store held (a persisted outbox, journal, settings cache); empty before version 2.
    store: await restoreStore(header.store, () => clock.now()),
  });
  connector.inspection.subscribe((record) => {
    if (record.type !== 'transition') return;
    push({
      stream: `actor:${record.actor}`,
      value: { from: record.from, to: record.to, event: record.event.type, ...(record.reason !== undefined && { reason: record.reason }) },
    });
  });
  // Channels by name, for the recorded `channel.send` and `channel.leave` calls: the ones setup
  // joined and the ones the recording joins.
  const channelHandles = new Map<string, ChannelHandle>();
  const join = connector.channel;
  connector.channel = (name, channelOptions) => {
    const handle = join(name, channelOptions);
    channelHandles.set(name, handle);
    return handle;
  };
  options.setup?.(connector, clock);

  const context = (index: number) =>
    entries
      .slice(Math.max(0, index - 6), index + 1)
      .map(({ line, entry }) => `${String(line).padStart(5)} ${formatEntry(entry, header.started_at)}`);
  const diverge = (index: number, d: Omit<ReplayDivergence, 'context' | 'message' | 'line' | 'at'>): ReplayResult => {
    const { line, entry } = entries[index]!;
    const where = `line ${line} (+${((entry.at - header.started_at) / 1000).toFixed(3)}s)`;
    const timeline = context(index);
    const detail = [
      `replay diverged at ${where}: ${d.kind.replaceAll('_', ' ')}`,
      ...(d.path !== undefined ? [`  at ${d.path || '(whole entry)'}`] : []),
      `  expected: ${JSON.stringify(d.expected)}`,
      `  actual:   ${d.actual === undefined ? '(nothing)' : JSON.stringify(d.actual)}`,
      '  recorded timeline up to there:',
      ...timeline.map((l) => `  ${l}`),
    ];
    return {
      ok: false,
      replayed: index,
      entries: entries.length,
      divergence: { line, at: entry.at - header.started_at, ...d, context: timeline, message: detail.join('\n') },
    };
  };

  /**
   * The first of `done` that matches the recorded output. Usually the head; a later one when the
   * replayed connector did something earlier than the recorded one (work after an `await` that
   * finished sooner without real I/O), which then waits for its own recorded line.
   */
  const matchIn = (done: Comparable[], want: Record<string, unknown>): { ok: true; index: number } | { ok: false; mismatch: Mismatch } => {
    let first: Mismatch | undefined;
    for (let index = 0; index < done.length; index++) {
      const trial = ids.fork();
      const mismatch = compareValues(want, done[index]!.value, trial, ignore);
      if (!mismatch) {
        ids.adopt(trial);
        return { ok: true, index };
      }
      first ??= mismatch;
    }
    return { ok: false, mismatch: first! };
  };

  /**
   * Matches what the connector did against what was recorded, stream by stream. At a `cut` (the
   * size limit) what the connector did beyond the recorded lines is not a divergence.
   */
  const drain = (upTo: number, cut = false): ReplayResult | undefined => {
    for (const [stream, queue] of expected) {
      const done = getOrCreate(actual, stream, () => []);
      while (queue.length > 0 && done.length > 0) {
        const want = queue[0]!;
        const found = matchIn(done, comparableEntry(want.entry));
        if (!found.ok)
          return diverge(entries.indexOf(want), {
            kind: 'different_output',
            expected: want.entry,
            actual: done[0]!.value,
            path: found.mismatch.path,
          });
        queue.shift();
        const [got] = done.splice(found.index, 1);
        if (want.entry.kind === 'http.request' && got!.req !== undefined) reqOf.set(want.entry.req, got!.req);
        const seq = ackSeq(got!.value);
        if (seq !== undefined) {
          const acks = ackLinesOf.get(stream);
          acks?.set(seq, (acks.get(seq) ?? 1) - 1);
          dropAcks(done, seq);
        }
      }
    }
    for (const [stream, done] of actual) {
      // Covered by a recorded ack at or above it, unless a recorded ack of just that seq is still to come.
      dropAcks(done, maxAckOf.get(stream) ?? -1, ackLinesOf.get(stream));
      // An output the recording has nowhere (further) in its stream: the replay went its own way.
      if (
        !cut &&
        done.length > 0 &&
        (expected.get(stream)?.length ?? 0) === 0 &&
        (lastLineOf.get(stream) ?? 0) <= (entries[upTo]?.line ?? Infinity)
      ) {
        return diverge(Math.min(upTo, entries.length - 1), {
          kind: 'unexpected_output',
          expected: undefined,
          actual: { stream, ...done[0]!.value },
        });
      }
    }
    return undefined;
  };

  try {
    for (let index = 0; index < entries.length; index++) {
      const { entry } = entries[index]!;
      if (OUTPUT_KINDS.has(entry.kind)) {
        getOrCreate(expected, streamOf(entry), () => []).push(entries[index]!);
        continue;
      }
      // An input: first everything recorded before it must have happened.
      await settle();
      // A file cut at its size limit says nothing of what came after: compare only up to the cut.
      const cut = entry.kind === 'end' && entry.reason === 'size_limit';
      const early = drain(index, cut);
      if (early) return early;
      for (const [, queue] of expected) {
        if (queue.length > 0) return diverge(entries.indexOf(queue[0]!), { kind: 'missing_output', expected: queue[0]!.entry });
      }
      if (cut) return { ok: true, replayed: entries.length, entries: entries.length };
      clock.advanceTo(entry.at);
      const failure = await applyInput(entry);
      if (failure) return diverge(index, failure);
    }
    await settle();
    const rest = drain(entries.length - 1);
    if (rest) return rest;
    for (const [, queue] of expected) {
      if (queue.length > 0) return diverge(entries.indexOf(queue[0]!), { kind: 'missing_output', expected: queue[0]!.entry });
    }
    return { ok: true, replayed: entries.length, entries: entries.length };
  } finally {
    await shutdown();
  }

  async function applyInput(entry: SessionEntry): Promise<Omit<ReplayDivergence, 'context' | 'message' | 'line' | 'at'> | undefined> {
    switch (entry.kind) {
      case 'socket.opened':
      case 'socket.message':
      case 'socket.error':
      case 'socket.closed': {
        const handlers = socket.handlers(entry.conn);
        if (!handlers || closedConnections.has(entry.conn)) return { kind: 'missing_connection', expected: entry };
        if (entry.kind === 'socket.opened') handlers.onOpen();
        else if (entry.kind === 'socket.error') handlers.onError(new Error(entry.message));
        else if (entry.kind === 'socket.closed') {
          closedConnections.add(entry.conn);
          socket.closed(entry.conn);
          handlers.onClose(entry.code, entry.reason);
        } else handlers.onMessage(entry.frame !== undefined ? ids.translate(JSON.stringify(entry.frame)) : ids.translate(entry.text ?? ''));
        return undefined;
      }
      case 'http.response':
      case 'http.failed': {
        const req = reqOf.get(entry.req);
        const outcome =
          entry.kind === 'http.response'
            ? { response: { status: entry.status, headers: entry.headers, body: ids.translateValue(entry.body) } }
            : { error: new HttpError(entry.error as HttpErrorKind, entry.message) };
        if (req === undefined || !http.settle(req, outcome)) return { kind: 'missing_request', expected: entry };
        return undefined;
      }
      case 'timer':
        if (!clock.fire(entry.ms, entry.set_at)) {
          if (isLeftover(entry.ms)) return undefined;
          return {
            kind: 'missing_timer',
            expected: entry,
            actual: { pending: clock.pending().map((t) => ({ ms: t.ms, set_at: t.setAt })) },
          };
        }
        // The replayed connector may re-arm what is due now but for a fraction of a millisecond.
        await settle();
        // Fired at its deadline, rounded up to the whole millisecond a real clock would read then.
        for (const timer of clock.pending()) {
          if (!isLeftover(timer.ms) || timer.setAt !== clock.now()) continue;
          clock.advanceTo(Math.ceil(timer.setAt + timer.ms));
          clock.fire(timer.ms, timer.setAt);
        }
        return undefined;
      case 'host':
        return hostCall(entry);
      default:
        return undefined; // `end`
    }
  }

  function hostCall(
    entry: Extract<SessionEntry, { kind: 'host' }>,
  ): Omit<ReplayDivergence, 'context' | 'message' | 'line' | 'at'> | undefined {
    const args = ids.translateValue(entry.args ?? []);
    const [arg] = args;
    const answer = (outcome: { value: unknown } | { error: string }) =>
      push({ stream: `answer:${entry.call}`, value: answerValue(outcome, redact) });
    // From version 3 a settings edit is answered, and so is a call that throws at once.
    const answersThrows = header.version >= 3 && !UNANSWERED_CALLS.has(entry.call);
    try {
      if (entry.call === 'start') connector.start();
      else if (entry.call === 'stop') void connector.stop();
      else if (entry.call === 'send') connector.send(arg as never);
      else if (entry.call === 'settings.update' && header.version < 3) void connector.settings.update(arg as never).catch(() => {});
      else {
        const call = recordedCall(entry.call, args);
        if (!call) return { kind: 'host_call_failed', expected: entry, actual: { error: `this version has no host call '${entry.call}'` } };
        const result = call();
        // Answered (an `answer` line follows in the file): the answer is an output, compared.
        if (result instanceof Promise) {
          result.then(
            (value: unknown) => answer({ value }),
            (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
          );
        }
      }
      return undefined;
    } catch (error) {
      if (answersThrows) answer({ error: (error as Error).message });
      // The recorded call may have thrown too; that is behaviour, and the outputs will tell.
      if (entry.call !== 'start' && entry.call !== 'stop') return undefined;
      return { kind: 'host_call_failed', expected: entry, actual: { error: (error as Error).message } };
    }
  }

  /** A host call a recording of version 2 or later keeps (src/connector/host-recording.ts), ready to make. */
  function recordedCall(call: string, args: unknown[]): (() => unknown) | undefined {
    const [first, second, third, fourth] = args;
    const channel = (name: string) => channelHandles.get(name) ?? connector.channel(name);
    if (call.startsWith('api.')) {
      const method = (connector.api as unknown as Record<string, unknown>)[call.slice('api.'.length)];
      return typeof method === 'function' ? () => (method as (...a: unknown[]) => unknown).apply(connector.api, args) : undefined;
    }
    switch (call) {
      case 'channel.join':
        return () => connector.channel(first as string, second as { workspaceId?: string } | undefined);
      case 'channel.leave':
        return () => channel(first as string).leave();
      case 'channel.send':
        return () =>
          channel(first as string).send(
            second as string,
            third as Record<string, unknown> | undefined,
            fourth as { reliable?: boolean } | undefined,
          );
      case 'login':
        return () => connector.login();
      case 'logout':
        return () => connector.logout();
      case 'switchOrganization':
        return () => connector.switchOrganization(first as string);
      case 'settings.update':
        return () => connector.settings.update(first as never);
      case 'telemetry.setConsent':
        return () => connector.telemetry.setConsent(first as boolean);
      case 'telemetry.track':
        return () => connector.telemetry.track(first as string, second as Record<string, unknown> | undefined);
      default:
        return undefined;
    }
  }

  async function shutdown(): Promise<void> {
    const stopped = connector.stop();
    // Play the far side out: close what is open, answer what waits, run the timers left.
    for (let round = 0; round < 50; round++) {
      socket.closeAll();
      http.failAll(new HttpError('aborted', 'replay ended'));
      for (const timer of clock.pending()) clock.fire(timer.ms, timer.setAt);
      clock.advanceTo(clock.now() + 60_000);
      const done = await Promise.race([stopped.then(() => true), settle().then(() => false)]);
      if (done) return;
    }
  }
}

/** Host calls recorded without an answer: the connector's own `start`, `stop` and `send`. */
const UNANSWERED_CALLS: ReadonlySet<string> = new Set(['start', 'stop', 'send']);

function comparableOutput(out: ReplayOutput, redact: <T>(value: T) => T): Comparable {
  switch (out.kind) {
    case 'socket.open':
      return { stream: 'socket', value: { url: redactUrl(out.url, redact) } };
    case 'socket.send':
      return { stream: `ws#${out.conn}`, value: frameEntry(out.data, redact) as Record<string, unknown> };
    case 'socket.close':
      return {
        stream: `ws#${out.conn}`,
        value: { close: true, ...(out.code !== undefined && { code: out.code }), ...(out.reason !== undefined && { reason: out.reason }) },
      };
    case 'socket.terminate':
      return { stream: `ws#${out.conn}`, value: { terminate: true } };
    case 'http.request': {
      const url = redactUrl(out.url, redact);
      return {
        stream: `http ${out.method} ${url}`,
        req: out.req,
        value: { url, ...(out.headers && { headers: redact(out.headers) }), ...(out.json !== undefined && { json: redact(out.json) }) },
      };
    }
  }
}

/** A recorded output in the shape {@link comparableOutput} gives the replayed one. */
function comparableEntry(entry: SessionEntry): Record<string, unknown> {
  switch (entry.kind) {
    case 'socket.open':
      return { url: entry.url };
    case 'socket.send':
      return entry.frame !== undefined ? { frame: entry.frame } : { text: entry.text };
    case 'socket.close':
      return {
        close: true,
        ...(entry.code !== undefined && { code: entry.code }),
        ...(entry.reason !== undefined && { reason: entry.reason }),
      };
    case 'socket.terminate':
      return { terminate: true };
    case 'http.request':
      return { url: entry.url, ...(entry.headers && { headers: entry.headers }), ...(entry.json !== undefined && { json: entry.json }) };
    case 'transition':
      return { from: entry.from, to: entry.to, event: entry.event, ...(entry.reason !== undefined && { reason: entry.reason }) };
    case 'answer':
      return entry.error !== undefined ? { error: entry.error } : entry.value === undefined ? {} : { value: entry.value };
    default:
      return {};
  }
}

/** A replayed call's answer in the shape a recorded `answer` has: JSON, redacted. */
function answerValue(outcome: { value: unknown } | { error: string }, redact: <T>(value: T) => T): Record<string, unknown> {
  if ('error' in outcome) return { error: redact(outcome.error) };
  if (outcome.value === undefined) return {};
  return { value: redact(JSON.parse(JSON.stringify(outcome.value)) as unknown) };
}

/** The `seq` of an `ack` frame. */
function ackSeq(value: Record<string, unknown>): number | undefined {
  const frame = value.frame as { type?: unknown; seq?: unknown } | undefined;
  return frame?.type === 'ack' && typeof frame.seq === 'number' ? frame.seq : undefined;
}

/**
 * Acknowledgements are cumulative and sent once per burst of inbound frames: how many go out
 * depends on how the network batched what came in, which a replay (one frame at a time) does not
 * reproduce. A replayed ack that a recorded one at or above it covers is not behaviour: dropped.
 */
function dropAcks(done: Comparable[], upTo: number, awaited?: ReadonlyMap<number, number>): void {
  for (let i = done.length - 1; i >= 0; i--) {
    const seq = ackSeq(done[i]!.value);
    if (seq !== undefined && seq <= upTo && !((awaited?.get(seq) ?? 0) > 0)) done.splice(i, 1);
  }
}

function streamOf(entry: SessionEntry): string {
  switch (entry.kind) {
    case 'socket.open':
      return 'socket';
    case 'socket.send':
    case 'socket.close':
    case 'socket.terminate':
      return `ws#${entry.conn}`;
    case 'http.request':
      return `http ${entry.method} ${entry.url}`;
    case 'transition':
      return `actor:${entry.actor}`;
    case 'answer':
      return `answer:${entry.call}`;
    default:
      return 'input';
  }
}

/**
 * A timer of under a millisecond: the rest of a delay with a fraction (`576.64` ms) that a real
 * timer, counting whole milliseconds, fired short of (or `0` once the clock read had passed it).
 * The connector re-arms it for the rest; a replay, whose clock moves to the recorded instant and
 * whose delays may differ by a few ms, may or may not see that rest. Either way the work is due
 * now: it is not behaviour.
 */
function isLeftover(ms: number): boolean {
  return ms >= 0 && ms < 1;
}

/** Lets promise chains and I/O callbacks of the replayed connector run to quiet. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
