import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';

const fixture = join(import.meta.dirname, '..', '..', 'fixtures', 'sessions', 'reconnect-after-drop.jsonl');
const clean = join(import.meta.dirname, '..', '..', 'fixtures', 'sessions', 'clean.jsonl');
const host = join(import.meta.dirname, '..', '..', 'support', 'replay-host.ts');

async function cli(args: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: '', err: '' };
  out.on('data', (c) => (chunks.out += c));
  err.on('data', (c) => (chunks.err += c));
  const code = await main(args, { out, err });
  return { code, ...chunks };
}

describe('cloudtether replay FILE', () => {
  it('prints the session as a timeline', async () => {
    const { code, out } = await cli(['replay', fixture]);
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^session v1 by cloudtether /);
    expect(lines).toContainEqual(expect.stringMatching(/^\+\s+\d+\.\d{3}s {2}ws#2 ← closed 1006$/));
    expect(lines).toContainEqual(expect.stringMatching(/connection: online\.connected → .* on socket\.closed/));
    expect(lines).toContainEqual(expect.stringMatching(/timer of \d+ ms fired/));
  });

  it('prints the entries as JSON lines with --json', async () => {
    const { code, out } = await cli(['replay', fixture, '--json']);
    expect(code).toBe(0);
    const kinds = out
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds.at(-1)).toBe('end');
    expect(kinds).toContain('socket.message');
  });

  it('says what is wrong with a file that is not a session, or a missing one', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ct-replay-')), 'x.jsonl');
    writeFileSync(file, '{"hello":"world"}\n');
    expect(await cli(['replay', file])).toMatchObject({ code: 1, err: `${file}: the first line is not a cloudtether session header\n` });
    expect(await cli(['replay'])).toMatchObject({ code: 2, err: 'replay needs a session file: cloudtether replay FILE\n' });
    const missing = await cli(['replay', join(tmpdir(), 'no-such-session.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^cloudtether replay: ENOENT/);
  });
});

describe('cloudtether replay FILE --check', () => {
  it('exits 0 when this version does what the recording did', async () => {
    const { code, out } = await cli(['replay', clean, '--check', '--setup', host]);
    expect(out).toMatch(/replayed all \d+ entries; the connector does what the recording did/);
    expect(code).toBe(0);
  });

  it('exits 1 at a deliberately altered recording and prints the first divergence: line, recorded vs actual, path, timeline', async () => {
    const lines = readFileSync(clean, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('"event_type":"completed"'));
    expect(at).toBeGreaterThan(0);
    lines[at] = lines[at]!.replace('"result":{"text":"hello"}', '"result":{"text":"hullo"}');
    const file = join(mkdtempSync(join(tmpdir(), 'ct-check-')), 'altered.jsonl');
    writeFileSync(file, lines.join('\n'));
    const { code, out } = await cli(['replay', file, '--check', '--setup', host]);
    expect(code).toBe(1);
    expect(out).toContain(`replay diverged at line ${at + 1} `);
    expect(out).toContain('at frame.data.result.text');
    expect(out).toContain('"text":"hullo"');
    expect(out).toMatch(/actual: {3}\{"frame":.*"text":"hello"/);
    expect(out).toContain('recorded timeline up to there:');
    expect(out).toContain('ws#1 ← execution_request');
  });

  it('exits 2 for a file that is not a session, or none', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ct-check-')), 'x.jsonl');
    writeFileSync(file, '{"hello":"world"}\n');
    expect(await cli(['replay', file, '--check'])).toMatchObject({
      code: 2,
      err: `${file}: the first line is not a cloudtether session header\n`,
    });
    expect((await cli(['replay', join(tmpdir(), 'no-such-session.jsonl'), '--check'])).code).toBe(2);
  });

  it('without the host handlers, says where the session needs them: the connect frame offers no tools', async () => {
    const { code, out } = await cli(['replay', clean, '--check']);
    expect(code).toBe(1);
    expect(out).toContain('at frame.runtime.tools');
  });
});
