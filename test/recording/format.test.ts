import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSession, SESSION_VERSION, SessionFileError } from '../../src/recording/format.ts';
import { SessionRecorder } from '../../src/recording/recorder.ts';
import { formatTimeline } from '../../src/recording/timeline.ts';

const header = (version = SESSION_VERSION) =>
  JSON.stringify({
    kind: 'session',
    format: 'cloudtether-session',
    version,
    library: '0.1.0',
    started_at: 1_000,
    config: { deviceId: 'd', seed: 3 },
  });
const entry = (at: number) => JSON.stringify({ kind: 'host', call: 'start', at });

function errorOf(text: string): SessionFileError {
  try {
    parseSession(text);
  } catch (error) {
    return error as SessionFileError;
  }
  throw new Error('parsed');
}

describe('parseSession', () => {
  it('reads a header and its entries with their line numbers', () => {
    const session = parseSession([header(), entry(1_000), entry(1_500), ''].join('\n'));
    expect(session.header.config).toEqual({ deviceId: 'd', seed: 3 });
    expect(session.entries.map((e) => e.line)).toEqual([2, 3]);
  });

  it('refuses a newer version instead of half reading it, and what is not a session', () => {
    expect(errorOf(header(SESSION_VERSION + 1))).toMatchObject({ name: 'SessionFileError', code: 'unsupported_version' });
    expect(errorOf('{"hello":1}')).toMatchObject({ code: 'not_a_session', line: 1 });
    expect(errorOf('not json')).toMatchObject({ code: 'not_a_session' });
  });

  it('drops a last line cut short by a crash, and names any other bad line', () => {
    expect(parseSession([header(), entry(1_000), '{"kind":"ho'].join('\n')).entries).toHaveLength(1);
    expect(errorOf([header(), '{"kind":"ho', entry(1_000)].join('\n'))).toMatchObject({ code: 'bad_entry', line: 2 });
    expect(errorOf([header(), '{"kind":"warp","at":1}', entry(1_000)].join('\n'))).toMatchObject({ code: 'bad_entry', line: 2 });
  });
});

describe('parseSession across versions', () => {
  it('reads a version 1 file (no store, no answers) a version 2 header with the store and an answer, and a version 3 answer', () => {
    const v1 = parseSession([header(1), entry(1_000)].join('\n'));
    expect(v1.header).toMatchObject({ version: 1 });
    expect(v1.header.store).toBeUndefined();
    const store = {
      outbox: { last_seq: 4, records: [{ seq: 4, at: 900, value: { message: { type: 'usage_report' } } }] },
      journal: { last_seq: 0, records: [] },
      files: { 'settings.json': '{}' },
    };
    const v2 = parseSession(
      [
        JSON.stringify({ ...JSON.parse(header(2)), store }),
        JSON.stringify({ kind: 'answer', at: 1_200, call: 'api.whoami', value: { device_id: 'd' } }),
      ].join('\n'),
    );
    expect(v2.header.store).toEqual(store);
    expect(v2.entries[0]!.entry).toMatchObject({ kind: 'answer', call: 'api.whoami' });
    // Version 3 adds no field: a settings edit and a call that threw are answered like the rest.
    const v3 = parseSession(
      [
        header(3),
        JSON.stringify({ kind: 'answer', at: 1_300, call: 'settings.update', error: 'the edit would make the settings invalid' }),
      ].join('\n'),
    );
    expect(v3.entries[0]!.entry).toMatchObject({ kind: 'answer', call: 'settings.update', error: expect.any(String) });
    expect(SESSION_VERSION).toBe(3);
  });
});

describe('SessionRecorder', () => {
  it('writes the header first when the store is read after entries came in, and keeps their order and times', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ct-rec-')), 's.jsonl');
    let now = 1_000;
    let read: (snapshot: undefined) => void = () => {};
    const recorder = new SessionRecorder({ file, now: () => now });
    recorder.header('0.1.0', {}, new Promise((resolve) => (read = resolve)));
    recorder.write({ kind: 'host', call: 'start' });
    now = 1_005;
    recorder.write({ kind: 'host', call: 'stop' });
    read(undefined);
    await recorder.end();
    const session = parseSession(readFileSync(file, 'utf8'));
    expect(session.header.started_at).toBe(1_000);
    expect(session.entries.map(({ entry }) => [entry.kind, entry.at])).toEqual([
      ['host', 1_000],
      ['host', 1_005],
      ['end', 1_005],
    ]);
  });

  it('stops at its size limit with a last line that says so', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ct-rec-')), 's.jsonl');
    let now = 1_000;
    const recorder = new SessionRecorder({ file, maxBytes: 2_048, now: () => now });
    recorder.header('0.1.0', {});
    for (let i = 0; i < 500; i++) {
      recorder.write({ kind: 'host', call: 'send', args: [{ n: i, pad: 'x'.repeat(20) }] });
      now += 1;
    }
    await recorder.end();
    const text = readFileSync(file, 'utf8');
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(2_048);
    const session = parseSession(text);
    expect(session.entries.at(-1)?.entry).toMatchObject({ kind: 'end', reason: 'size_limit' });
    expect(session.entries.length).toBeGreaterThan(5);
  });

  it('ends a normal recording with `stopped`, and end() twice is harmless', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ct-rec-')), 's.jsonl');
    const recorder = new SessionRecorder({ file, now: () => 5 });
    recorder.header('0.1.0', {});
    recorder.write({ kind: 'host', call: 'start' });
    await recorder.end();
    await recorder.end();
    expect(parseSession(readFileSync(file, 'utf8')).entries.map((e) => e.entry.kind)).toEqual(['host', 'end']);
  });

  it('reports a file it cannot write without throwing', async () => {
    const recorder = new SessionRecorder({ file: join(tmpdir(), 'no-such-dir-ct', 'x', 's.jsonl'), now: () => 0 });
    recorder.header('0.1.0', {});
    recorder.write({ kind: 'host', call: 'start' });
    await recorder.end();
    expect(recorder.error).toMatchObject({ code: 'ENOENT' });
  });
});

describe('formatTimeline', () => {
  it('prints one readable line per entry, times from the start', () => {
    const text = [
      header(),
      JSON.stringify({ kind: 'socket.send', conn: 1, frame: { type: 'connect', device_id: 'd' }, at: 1_250 }),
      JSON.stringify({ kind: 'timer', ms: 500, set_at: 1_250, at: 1_751 }),
      JSON.stringify({
        kind: 'transition',
        actor: 'supervisor/connection',
        from: ['online', 'online.connected'],
        to: ['waiting'],
        event: 'socket.closed',
        reason: 'connection_lost',
        at: 2_000,
      }),
    ].join('\n');
    expect(formatTimeline(parseSession(text)).slice(2)).toEqual([
      '+   0.250s  ws#1 → connect {"type":"connect","device_id":"d"}',
      '+   0.751s  timer of 500 ms fired (set at +0.250s)',
      '+   1.000s  connection: online.connected → waiting on socket.closed (connection_lost)',
    ]);
  });
});
