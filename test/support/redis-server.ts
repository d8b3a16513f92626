import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** A real redis-server on a loopback port, in a temporary directory of its own. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Stops the server (SIGTERM, so it writes its AOF), keeping the directory. */
  stop(): Promise<void>;
  /** Starts it again on the same port and directory: what it persisted is read back. */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  /** `--appendonly yes` with `appendfsync always`: every write is on disk before Redis answers. */
  persistent?: boolean;
}

/** A free loopback port: bound at port 0 and closed again (redis-server cannot take port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs redis-server until it says it is ready, or rejects with what it printed when it exits first. */
function launch(port: number, dir: string, persistent: boolean): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'yes'];
  if (persistent) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        child.stdout?.off('data', onData);
        // Keep draining, so a chatty server never blocks on a full pipe.
        child.stdout?.resume();
        child.off('exit', onExit);
        resolve(child);
      }
    };
    const onExit = (code: number | null) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('exit', onExit);
    child.once('error', reject);
  });
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A {@link RedisServer} the caller stops: `close()` stops it and removes its directory. */
export interface OwnedRedisServer extends RedisServer {
  close(): Promise<void>;
}

/**
 * Starts a redis-server on a free loopback port (retrying on a port another process took
 * meanwhile) with a temporary directory, for code outside a test (a benchmark): the caller
 * closes it. In a test, {@link startRedis}.
 *
 * @example
 * const redis = await openRedis({ persistent: true });
 * try { … } finally { await redis.close(); }
 */
export async function openRedis({ persistent = false }: RedisServerOptions = {}): Promise<OwnedRedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ct-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  let lastError: unknown;
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, persistent);
    } catch (error) {
      lastError = error;
    }
  }
  if (!child) {
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }
  let running: ChildProcess | undefined = child;
  const server: OwnedRedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      if (running) await terminate(running);
      running = undefined;
    },
    async restart() {
      await server.stop();
      running = await launch(port, dir, persistent);
    },
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * Starts a redis-server on a free loopback port (retrying on a port another process took
 * meanwhile) with a temporary directory; stopped, and its directory removed, when the test ends.
 *
 * @example
 * const redis = await startRedis({ persistent: true });
 * const hub = createHub({ staticToken: 't', engine: { redis: redis.url } });
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const server = await openRedis(options);
  onTestFinished(() => server.close());
  return server;
}

/**
 * A TCP server that answers every command as a Redis of `version` would answer `INFO`: enough
 * for a client to connect and read the version, nothing more. Only for the check that refuses a
 * Redis too old (no older redis-server is installed to start); closed when the test ends.
 */
export async function startRedisOfVersion(version: string): Promise<{ url: string }> {
  const info = `# Server\r\nredis_version:${version}\r\nloading:0\r\n`;
  const reply = `$${Buffer.byteLength(info)}\r\n${info}\r\n`;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      // One reply per command: each arrives as a RESP array, `*<n>` at the start of a line.
      for (const _command of chunk.toString('latin1').matchAll(/(?:^|\n)\*\d+\r\n/g)) socket.write(reply);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `redis://127.0.0.1:${(server.address() as { port: number }).port}` };
}
