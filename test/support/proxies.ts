import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onLines } from './loopback.ts';

/** A proxy process on loopback: its URL, every line it logged, and a way to wait for one. */
export interface ProxyProcess {
  port: number;
  /** `http://[user:password@]127.0.0.1:port`. */
  url: string;
  readonly log: string[];
  /** Resolves once a logged line matches (at once if one already did). */
  logged(pattern: RegExp): Promise<string>;
  /** Stops the process; resolves when it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** A free loopback port (bound and released: the proxy binds it next). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function follow(child: ChildProcess, port: number, url: string, cleanup: () => void): ProxyProcess {
  const log: string[] = [];
  const lines = new EventEmitter();
  const take = (line: string) => {
    log.push(line);
    lines.emit('line', line);
  };
  onLines(child.stdout!, take);
  onLines(child.stderr!, take);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  return {
    port,
    url,
    log,
    logged(pattern) {
      const seen = log.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const onLine = (line: string) => {
          if (!pattern.test(line)) return;
          lines.off('line', onLine);
          resolve(line);
        };
        lines.on('line', onLine);
        void exited.then(() => {
          lines.off('line', onLine);
          reject(new Error(`the proxy exited before logging ${pattern}:\n${log.join('\n')}`));
        });
      });
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        // A proxy may wait on its open tunnels before it exits on SIGTERM (a busy run saw tinyproxy
        // hold a test's teardown for 120 s): after a grace period, SIGKILL.
        const grace = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(grace);
        cleanup();
      })();
      return stopping;
    },
  };
}

/**
 * Debian's tinyproxy (scripts/ensure-proxies.sh installs it) on a free loopback port (or `port`),
 * in the foreground, logging every connection and request; with Basic auth when `auth` is given.
 * Its config file is written to a temp dir, removed on stop.
 */
export async function startTinyproxy(options: { auth?: { user: string; password: string }; port?: number } = {}): Promise<ProxyProcess> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'cloudtether-tinyproxy-'));
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 600',
      'LogLevel Info',
      'MaxClients 200',
      'Allow 127.0.0.1',
      ...(options.auth ? [`BasicAuth ${options.auth.user} ${options.auth.password}`] : []),
      '',
    ].join('\n'),
  );
  const child = spawn('tinyproxy', ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const credentials = options.auth ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.password)}@` : '';
  const proxy = follow(child, port, `http://${credentials}127.0.0.1:${port}`, () => rmSync(dir, { recursive: true, force: true }));
  // Logged (at level Info) once its socket listens.
  await proxy.logged(/Accepting connections/).catch(async (error: unknown) => {
    await proxy.stop();
    throw error;
  });
  return proxy;
}

/**
 * Debian's mitmproxy as `mitmdump` in regular proxy mode on a free loopback port: it decrypts TLS
 * with a CA it generates into a temp confdir (`caFile`), trusts upstream certificates signed by
 * `upstreamCa`, and logs every request with its full URL. Removed on stop.
 */
export async function startMitmdump(options: { upstreamCa: string }): Promise<ProxyProcess & { caFile: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'cloudtether-mitm-'));
  const child = spawn(
    'mitmdump',
    [
      '--listen-host',
      '127.0.0.1',
      '--listen-port',
      String(port),
      '--set',
      `confdir=${dir}`,
      '--set',
      `ssl_verify_upstream_trusted_ca=${options.upstreamCa}`,
      '--set',
      'flow_detail=1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } },
  );
  const proxy = follow(child, port, `http://127.0.0.1:${port}`, () => rmSync(dir, { recursive: true, force: true }));
  await proxy.logged(/listening at/i).catch(async (error: unknown) => {
    await proxy.stop();
    throw error;
  });
  return { ...proxy, caFile: join(dir, 'mitmproxy-ca-cert.pem') };
}
