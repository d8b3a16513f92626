import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { cliOptions } from '../../src/cli/commands/options.ts';
import { main } from '../../src/cli/main.ts';
import { parseSession } from '../../src/recording/format.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

  it('lists every flag the CLI takes, and the hub section its own', async () => {
    const { out } = await cli(['hub', '--help']);
    for (const flag of Object.keys(cliOptions)) expect(out).toMatch(new RegExp(`--${flag}\\b`));
    const hub = out.slice(out.indexOf('\nhub:'), out.indexOf('\nconnect:'));
    for (const flag of [
      '--port',
      '--host',
      '--token',
      '--tenant-id',
      '--tls-cert',
      '--tls-key',
      '--tls-client-ca',
      '--redis',
      '--node-id',
      '--json',
    ])
      expect(hub).toContain(flag);
    for (const name of ['CLOUDTETHER_HUB_REDIS_URL', 'CLOUDTETHER_HUB_NODE_ID', 'CLOUDTETHER_HUB_LEDGER', 'CLOUDTETHER_HUB_SETTINGS'])
      expect(hub).toContain(name);
  });

  it.each([[['bogus']], [[]], [['demo', 'extra']], [['demo', '--no-such-flag']]])('refuses %j with exit 2 and usage', async (args) => {
    const { code, err } = await cli(args);
    expect(code).toBe(2);
    expect(err).toContain('Usage: cloudtether');
  });

  it('refuses a hub without a token and a bad port', async () => {
    expect((await cli(['hub'], { CLOUDTETHER_HUB_TOKEN: '', CLOUDTETHER_HUB_ENROLLMENT_SECRET: '' })).code).toBe(2);
    const bad = await cli(['hub', '--token', 't', '--port', 'eighty']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--port');
  });

  it('refuses a connector configured with a URL and no token, naming the field only', async () => {
    const { code, err } = await cli(['connect', '--url', 'ws://127.0.0.1:9/v1/connect'], { CLOUD_TOKEN: '' });
    expect(code).toBe(2);
    expect(err).toContain('token');
  });

  it('refuses an unknown log level with exit 2 and one line', async () => {
    const { code, err } = await cli(['demo', '--log-level', 'nope']);
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toEqual(['unknown log level: nope (fatal, error, warn, info, debug, trace, silent)']);
  });

  it('reports a port in use in one line with exit 1, no stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const { code, err } = await cli(['hub', '--token', 't', '--port', String(port), '--log-level', 'silent']);
      expect(code).toBe(1);
      expect(err.trim().split('\n')).toEqual([`cloudtether hub: listen EADDRINUSE: address already in use 127.0.0.1:${port}`]);
    } finally {
      taken.close();
    }
  });

  it('keeps a standalone connector running until SIGINT, then stops it gracefully with exit 0', async () => {
    const env = { ...process.env, CLOUD_WS_URL: '', CLOUD_TOKEN: '' };
    const child = spawn(process.execPath, ['bin/cloudtether.js', 'connect', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => void child.kill('SIGKILL'));
    let out = '';
    const standalone = new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('"state":"standalone"')) resolve();
      }),
    );
    await standalone;
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<[number | null, string | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
    child.kill('SIGINT');
    expect([await exited, stderr]).toEqual([[0, null], '']);
    const states = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.actor === 'connection')
      .map((l) => l.state);
    expect(states).toEqual(['standalone', 'closed', 'stopped']);
  });

  // The real binary on real time (a 6 s token refreshed, a hub restart): about 10 s alone, more on a busy 2-core machine.
  it('runs the demo scenario end to end through the real binary (demo --once --json)', async () => {
    const recording = join(mkdtempSync(join(tmpdir(), 'ct-demo-')), 'demo.jsonl');
    const { stdout } = await run(process.execPath, ['bin/cloudtether.js', 'demo', '--once', '--json', '--record', recording], {
      timeout: 60_000,
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.step).map((l) => l.step);
    expect(steps).toEqual([
      'hub',
      'connect',
      'heartbeats',
      'refresh',
      'drop',
      'silence',
      'executions',
      'survive',
      'survive',
      'chat',
      'ledger',
      'settings',
      'settings',
      'done',
    ]);
    const connection = lines.filter((l) => l.actor === 'connection').map((l) => `${l.state}:${l.reason}`);
    // Connected four times: at start, after the drop, after the silent hub, after the hub restart under r-long.
    expect(connection.filter((s) => s.startsWith('connected:'))).toHaveLength(4);
    expect(connection).toContain('disconnected:connection_lost');
    expect(connection).toContain('disconnected:heartbeat_timeout');
    expect(connection.at(-1)).toBe('stopped:stopped');
    expect(lines.some((l) => l.actor === 'heartbeat' && l.reason === 'acknowledged' && typeof l.rttMs === 'number')).toBe(true);
    // The in-band refresh: a new token while the first session stayed up.
    const refresh = lines.findIndex((l) => l.step === 'refresh');
    const drop = lines.findIndex((l) => l.step === 'drop');
    const during = lines.slice(refresh, drop);
    expect(during.some((l) => l.actor === 'auth' && l.state === 'refreshing' && l.reason === 'refresh_due')).toBe(true);
    expect(during.some((l) => l.actor === 'connection')).toBe(false);
    // Executions: each of the four ended once, completed; r-long's progress spans the drop.
    const events = lines.filter((l) => l.execution);
    for (const id of ['r-tool', 'r-playbook', 'r-chain', 'r-long']) {
      const own = events.filter((l) => l.execution === id).map((l) => l.event);
      expect(own[0]).toBe('accepted');
      expect(own.filter((e) => ['completed', 'failed', 'cancelled', 'timed_out'].includes(e))).toEqual(['completed']);
    }
    expect(events.filter((l) => l.execution === 'r-long' && l.event === 'progress')).toHaveLength(4);
    expect(lines.find((l) => l.ledger)?.ledger).toMatchObject({ reports: 4 });
    // The chat message and its reply.
    expect(lines.filter((l) => l.chat).map((l) => l.chat)).toEqual(['in', 'out']);
    expect(lines.find((l) => l.chat === 'out')).toMatchObject({ status: 'completed', text: expect.stringContaining('calendar') });
    // Settings: the defaults, then the organization's change applied live; the user's edit accepted.
    expect(lines.filter((l) => l.settings).map((l) => l.settings)).toEqual([
      { theme: 'light', max_concurrent_tasks: 4, features: {} },
      { theme: 'light', max_concurrent_tasks: 2, features: { task_sharing: true } },
    ]);
    expect(lines.filter((l) => l.step === 'settings').at(-1)?.text).toMatch(/accepted by the hub at version 1; task_sharing is on/);
    // --record: the whole session, redacted, ending with the stop.
    const session = parseSession(readFileSync(recording, 'utf8'));
    const kinds = new Set(session.entries.map((e) => e.entry.kind));
    expect([...kinds]).toEqual(
      expect.arrayContaining([
        'host',
        'http.request',
        'http.response',
        'socket.open',
        'socket.send',
        'socket.message',
        'socket.closed',
        'timer',
        'transition',
      ]),
    );
    expect(session.entries.at(-1)?.entry).toMatchObject({ kind: 'end', reason: 'stopped' });
    // Four sessions, as above: attempts while the hub restarts may open more sockets than that.
    expect(
      session.entries.filter(
        (e) => e.entry.kind === 'socket.message' && (e.entry.frame as { type?: string } | undefined)?.type === 'connect_ack',
      ),
    ).toHaveLength(4);
    expect((readFileSync(recording, 'utf8').match(/eyJ[\w-]*\.[\w-]*\.[\w-]+/g) ?? []).every((jwt) => jwt.endsWith('.redacted'))).toBe(
      true,
    );
  });
});
