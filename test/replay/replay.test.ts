import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSession } from '../../src/recording/format.ts';
import { replaySession } from '../../src/replay/replay.ts';
import { CREDENTIAL, SCENARIOS, setupHost } from '../fixtures/sessions/scenarios.ts';

/*
 * Sessions recorded against the real hub in real time (scripts/record-sessions.ts) and committed:
 * this version of the connector must do what the recorded one did, frame for frame and
 * transition for transition. When a change is meant to alter behaviour, re-record them.
 */

const folder = join(import.meta.dirname, '..', 'fixtures', 'sessions');
const fixture = (name: string) => join(folder, name);

describe('replaySession on the recorded fixtures', () => {
  it.each(SCENARIOS.map((s) => s.file))('%s replays without a divergence', async (file) => {
    const result = await replaySession(fixture(file), { setup: setupHost });
    expect(result.divergence?.message).toBeUndefined();
    expect(result).toMatchObject({ ok: true, replayed: result.entries });
    expect(result.entries).toBeGreaterThan(20);
  });

  it('the fixtures cover what they are named for', () => {
    const kinds = (file: string) => parseSession(readFileSync(fixture(file), 'utf8')).entries.map(({ entry }) => entry);
    const closes = kinds('reconnect-after-drop.jsonl').filter((e) => e.kind === 'socket.closed');
    expect(closes.map((e) => e.kind === 'socket.closed' && e.code)).toEqual([1006, 1006, 1000]);
    const refresh = kinds('token-refresh.jsonl');
    expect(refresh.some((e) => e.kind === 'socket.send' && (e.frame as { type?: string }).type === 'auth_refresh')).toBe(true);
    expect(refresh.filter((e) => e.kind === 'http.request' && e.url.endsWith('/v1/device-token'))).toHaveLength(2);
    const interrupted = kinds('execution-interrupted.jsonl');
    const sends = interrupted
      .filter((e) => e.kind === 'socket.send')
      .map(
        (e) =>
          e.kind === 'socket.send' && {
            conn: e.conn,
            type: (e.frame as { type: string }).type,
            event: (e.frame as { event_type?: string }).event_type,
          },
      );
    // Started on the first connection, completed on the second.
    expect(sends).toContainEqual({ conn: 1, type: 'execution_event', event: 'started' });
    expect(sends).toContainEqual({ conn: 2, type: 'execution_event', event: 'completed' });
  });

  it('no fixture holds the credential or a token signature', () => {
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.jsonl'))) {
      const text = readFileSync(fixture(file), 'utf8');
      expect(text).not.toContain(CREDENTIAL);
      const jwts = text.match(/eyJ[\w-]*\.[\w-]*\.[\w-]+/g) ?? [];
      expect(jwts.every((jwt) => jwt.endsWith('.redacted'))).toBe(true);
    }
  });
});

describe('replaySession catches a regression at the step where it happens', () => {
  it('a different retry decision: the backoff timer the recording fired is not there', async () => {
    const file = fixture('reconnect-after-drop.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    // The recorded backoff after the second drop: the timer that fired the second retry (the
    // first retry's delay is the drop spread, which `baseMs` does not change).
    const retries = lines.flatMap((l, i) => (l.includes('"event":"xstate.after.retryDelay.connection.disconnected"') ? [i] : []));
    const backoffLine = lines.slice(0, retries[1]).findLastIndex((l) => l.includes('"kind":"timer"')) + 1;
    const result = await replaySession(file, { setup: setupHost, config: { backoff: { baseMs: 8_000 } } });
    expect(result.ok).toBe(false);
    expect(result.divergence).toMatchObject({ kind: 'missing_timer', line: backoffLine });
    const pending = (result.divergence!.actual as { pending: Array<{ ms: number }> }).pending.map((t) => t.ms);
    expect(pending.some((ms) => ms > 2_000)).toBe(true);
    expect(result.divergence!.message).toContain(`line ${backoffLine}`);
    expect(result.divergence!.context.at(-1)).toContain('timer of');
  });

  it('a host that lost its handlers: the connect frame no longer offers the tool', async () => {
    const file = fixture('clean.jsonl');
    const result = await replaySession(file, { setup: () => {} });
    expect(result.divergence).toMatchObject({ kind: 'different_output' });
    const expected = result.divergence!.expected as { kind: string; frame: { type: string } };
    expect(expected).toMatchObject({ kind: 'socket.send' });
    // The first frame that differs is the connect (its tool list), before any execution.
    expect(expected.frame.type).toBe('connect');
    expect(result.divergence!.path).toBe('frame.runtime.tools');
  });
});
