import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: '', err: '' };
  out.on('data', (c) => (chunks.out += c));
  err.on('data', (c) => (chunks.err += c));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await main(args, { out, err });
    return { code, ...chunks };
  } finally {
    process.env = saved;
  }
}

describe('cloudtether CLI', () => {
  it('prints usage for --help and exits 0', async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: cloudtether <command>');
  });

  it.each([[['bogus']], [[]], [['demo', 'extra']], [['demo', '--no-such-flag']]])('refuses %j with exit 2 and usage', async (args) => {
    const { code, err } = await cli(args);
    expect(code).toBe(2);
    expect(err).toContain('Usage: cloudtether');
  });

  it('refuses a hub without a token and a bad port', async () => {
    expect((await cli(['hub'], { CLOUDTETHER_HUB_TOKEN: '' })).code).toBe(2);
    const bad = await cli(['hub', '--token', 't', '--port', 'eighty']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--port');
  });

  it('refuses a connector configured with a URL and no token, naming the field only', async () => {
    const { code, err } = await cli(['connect', '--url', 'ws://127.0.0.1:9/v1/connect'], { CLOUD_TOKEN: '' });
    expect(code).toBe(2);
    expect(err).toContain('token');
  });

  it('runs the demo scenario end to end through the real binary (demo --once --json)', async () => {
    const { stdout } = await run(process.execPath, ['bin/cloudtether.js', 'demo', '--once', '--json'], { timeout: 60_000 });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.step).map((l) => l.step);
    expect(steps).toEqual(['hub', 'connect', 'heartbeats', 'drop', 'silence', 'done']);
    const connection = lines.filter((l) => l.actor === 'connection').map((l) => `${l.state}:${l.reason}`);
    // Connected three times: at start, after the drop, after the silent hub.
    expect(connection.filter((s) => s.startsWith('connected:'))).toHaveLength(3);
    expect(connection).toContain('disconnected:connection_lost');
    expect(connection).toContain('disconnected:heartbeat_timeout');
    expect(connection.at(-1)).toBe('stopped:stopped');
    expect(lines.some((l) => l.actor === 'heartbeat' && l.reason === 'acknowledged' && typeof l.rttMs === 'number')).toBe(true);
  });
});
