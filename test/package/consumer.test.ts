import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, runToEnd, startChild } from './child.ts';
import { readmeEmbeddingExample } from './readme-example.ts';
import { childEnv, createScratchProject, REPO, type ScratchProject } from './scratch-project.ts';

/*
 * The package as a user gets it: `npm pack` of the repository installed into a fresh ES module
 * project outside it, then used with plain node (the four entry points; README.md's embedding
 * example against the installed CLI's hub) and type-checked by a strict TypeScript host under
 * TypeScript 5.9 and 7. npm's cache makes the install take seconds after the first run.
 */

const ENTRIES = ['cloudtether', 'cloudtether/hub', 'cloudtether/protocol', 'cloudtether/testing'];
/** Pack and install; the registry is reachable but slow when npm's cache is cold. */
const INSTALL_TIMEOUT_MS = 300_000;
/**
 * One TypeScript run. TypeScript 5.9 checks every declaration (skipLibCheck false) in about 15 s
 * alone on two cores; the four runs at once on a busy machine have taken 80 s.
 */
const TSC_TIMEOUT_MS = 180_000;

let project: ScratchProject;
const children: Child[] = [];

beforeAll(async () => {
  // TypeScript 5.9 lives in the scratch project only: in the repository's devDependencies its
  // `tsc` bin would shadow TypeScript 7's in node_modules/.bin. zod: README.md installs it too.
  project = await createScratchProject({ packages: ['typescript@5.9.3', '@types/node@20', 'zod@4'], timeoutMs: INSTALL_TIMEOUT_MS });
}, INSTALL_TIMEOUT_MS + 10_000);

afterAll(async () => {
  await Promise.all(children.map((child) => child.kill()));
  project?.remove();
});

describe('the packed package on plain node', () => {
  it('imports all four entry points', async () => {
    project.write(
      'imports.js',
      `for (const entry of ${JSON.stringify(ENTRIES)}) console.log(entry, Object.keys(await import(entry)).length);\n`,
    );
    const run = await runToEnd(process.execPath, ['imports.js'], { cwd: project.dir, env: childEnv(), timeoutMs: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const counts = Object.fromEntries(run.stdout.split('\n').map((line) => line.split(' ')));
    // As many values as dist's entry points (test/package/surface.test.ts holds dist to the sources).
    const expected: Record<string, string> = {};
    for (const [entry, path] of [
      ['cloudtether', 'index'],
      ['cloudtether/hub', 'hub/index'],
      ['cloudtether/protocol', 'protocol/index'],
      ['cloudtether/testing', 'testing/index'],
    ] as const) {
      expected[entry] = String(Object.keys(await import(join(REPO, 'dist', `${path}.js`))).length);
    }
    expect(counts).toEqual(expected);
  });

  it("runs README.md's embedding example against the installed CLI's hub: one tool over REST, then SIGTERM", async () => {
    const ADMIN = 'admin-secret';
    const DEVICE_TOKEN = 'device-secret';
    // The search service the README's tool calls.
    const search = await listen((req, res) => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams.get('q');
      res.setHeader('content-type', 'application/json').end(JSON.stringify([`first hit for ${query}`]));
    });
    try {
      const hub = startChild(project.path('node_modules', '.bin', 'cloudtether'), ['hub', '--port', '0', '--json'], {
        cwd: project.dir,
        env: childEnv({ CLOUDTETHER_HUB_TOKEN: DEVICE_TOKEN, CLOUDTETHER_HUB_ADMIN_TOKEN: ADMIN }),
      });
      children.push(hub);
      const listening = await hub.waitForLine('stderr', (line) => line.startsWith('hub listening on '), {
        what: "the hub's listening line",
      });
      const wsUrl = listening.slice('hub listening on '.length);
      const origin = new URL(wsUrl.replace(/^ws/, 'http')).origin;

      project.write('host.js', readmeEmbeddingExample());
      const host = startChild(process.execPath, ['host.js'], {
        cwd: project.dir,
        env: childEnv({
          CLOUD_WS_URL: wsUrl,
          CLOUD_TOKEN: DEVICE_TOKEN,
          DEVICE_ID: 'consumer-1',
          TENANT_ID: 'acme',
          STATE_DIRECTORY: project.path('state'),
          SEARCH_URL: `http://127.0.0.1:${search.port}/search`,
        }),
      });
      children.push(host);
      await host.waitForLine('stdout', (line) => line === 'connected handshake_complete', { what: 'the host connected' });

      const dispatch = (authorization?: string) =>
        fetch(`${origin}/v1/devices/consumer-1/executions?tenant_id=acme`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(authorization && { authorization }) },
          body: JSON.stringify({ job_type: 'tool', tool_name: 'web_search', inputs: { query: 'tethers' } }),
        });
      // CLOUDTETHER_HUB_ADMIN_TOKEN guards dispatch.
      expect((await dispatch()).status).toBe(401);
      const accepted = await dispatch(`Bearer ${ADMIN}`);
      expect(accepted.status).toBe(202);
      const { request_id } = (await accepted.json()) as { request_id: string };

      const execution = await pollUntil(
        async () => {
          const answer = await fetch(`${origin}/v1/executions/${request_id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
          return (await answer.json()) as { status: string; events: Array<{ event_type: string }>; outcome?: Record<string, unknown> };
        },
        (snapshot) => !['queued', 'delivered', 'accepted', 'running'].includes(snapshot.status),
        { what: `${request_id} to end`, timeoutMs: 60_000 },
      );
      expect(execution.status).toBe('completed');
      expect(execution.events.map((e) => e.event_type)).toEqual(['accepted', 'started', 'progress', 'completed']);
      expect(execution.outcome?.result).toEqual({ results: ['first hit for tethers'] });

      // Graceful: the hub sees close 1000, and nothing holds the host's event loop open.
      host.process.kill('SIGTERM');
      const closed = await hub.waitForLine('stdout', (line) => line.includes('"session_close"'), { what: 'the session to close' });
      expect(JSON.parse(closed)).toMatchObject({ event: 'session_close', device_id: 'consumer-1', code: 1000 });
      expect(await host.waitForExit(60_000)).toEqual({ code: 0, signal: null });
      expect(host.lines.stderr.filter((line) => line !== '')).toEqual([]);

      hub.process.kill('SIGTERM');
      expect(await hub.waitForExit(60_000)).toEqual({ code: 0, signal: null });
    } finally {
      await new Promise((resolve) => search.server.close(resolve));
    }
  });
});

/**
 * The TypeScript host: README.md's example, then what docs/embedding.md shows a host doing with
 * status, storage, settings, the API client, errors, the hub and the test helpers. Type-checked
 * only, never run.
 */
const EMBEDDING_EXTRAS = String.raw`
import {
  ApiClient,
  ApiError,
  apiKeyCredentials,
  type ConnectorStatus,
  createLogger,
  ExecutionError,
  fetchHttpAdapter,
  type LogRepair,
  realClock,
  SettingsError,
  type StorageStatus,
  TelemetryError,
} from 'cloudtether';
import { createHub } from 'cloudtether/hub';
import { CloseCode, FrameError } from 'cloudtether/protocol';
import { createMemoryNetwork, replaySession, SimulatedClock } from 'cloudtether/testing';

// The README's connector lives inside its main(); these lines get one of their own.
const config = connectorConfigFromEnv();
const connector = createConnector(config);

// Status, and a full disk.
const status: ConnectorStatus = await connector.waitFor((s) => s.connection.state === 'connected');
const storage: StorageStatus = status.storage;
if (storage.state === 'failing') console.warn('Disk full at ' + storage.path + ' (' + storage.code + '), retry in ' + storage.retryInMs);
connector.on('state', (change) => {
  if (change.actor === 'storage' && change.state === 'failing') console.warn(change.reason);
});
const repairs: LogRepair[] = [];
console.log(repairs.map((r) => r.offset + r.bytes), connector.executions.outboxDepth);

// Work, with a failure of the handler's own.
connector.handle('playbook', 'weekly_campaign_report', {
  input: z.object({ week: z.string() }),
  async run({ week }, ctx) {
    ctx.logger.info({ week }, 'building the report');
    if (week === '') throw new ExecutionError('no_data', 'no metrics for ' + week, { week });
    return { rows: week.length };
  },
});
connector.on('outbox_loss', (loss) => console.log(loss.kind));

// Settings typed by the host's schema.
const typed = createConnector(config, {
  logger: createLogger({ level: 'info' }),
  settings: {
    schema: z.object({
      theme: z.enum(['light', 'dark']).default('light'),
      max_concurrent_tasks: z.number().int().min(1).max(16).default(4),
      features: z.record(z.string(), z.boolean()).default({}),
    }),
    defaults: { max_concurrent_tasks: 2 },
  },
});
await typed.settings.ready;
typed.settings.value$.subscribe((s) => console.log(s.theme.toUpperCase(), s.max_concurrent_tasks + 1));
if (typed.settings.flag('task_sharing')) console.log('sharing');
try {
  const outcome = await typed.settings.update({ theme: 'dark' });
  if (outcome.status === 'conflict') console.log(outcome.conflicts.length);
} catch (error) {
  if (error instanceof SettingsError) console.log(error.code, error.issues);
}

// The Cloud API, as the connector and with an API key.
const me = await connector.api.whoami();
console.log(me.tenant_id, me.permissions.includes('usage:read'));
const api = new ApiClient({ http: fetchHttpAdapter, origin: 'https://hub.example.com', credentials: apiKeyCredentials('ctk_0123456789abcdef_secret'), clock: realClock });
const key = await api.createApiKey({ name: 'ci', permissions: ['usage:read'] });
await api.rotateApiKey(key.id);
try {
  await connector.api.createShare({ resource: { type: 'execution', id: 'req_1' }, visibility: 'public' });
} catch (error) {
  if (error instanceof ApiError && error.kind === 'forbidden') console.log(error.detail.code);
  if (error instanceof ApiError && error.kind === 'rate_limited') console.log(error.retryAfterMs);
}

// Telemetry and frames.
connector.telemetry.setConsent(true);
try {
  connector.telemetry.track('task.completed', { duration_ms: 1834, tool: 'web_search' });
} catch (error) {
  if (error instanceof TelemetryError) console.log(error.message);
}
console.log(connector.telemetry.stats.dropped.full);
try {
  connector.send({ type: 'usage_report', request_id: 'r-1', executor_device_id: 'laptop-7f3a', metrics: { duration_ms: 812 } });
} catch (error) {
  if (error instanceof FrameError) console.log(error.code, CloseCode);
}

// The reference hub and the test helpers.
const hub = createHub({ staticToken: 't', adminToken: 'a' });
const { url } = await hub.listen({ port: 0 });
const clock = new SimulatedClock();
const net = createMemoryNetwork();
const probe = createConnector({ url, token: 't', seed: 1 }, { socket: net.adapter, clock });
probe.start();
clock.increment(probe.status.connection.retryInMs ?? 0);
const replay = await replaySession('session.jsonl', { setup: (c) => c.handle('tool', 'echo', { input: z.object({ text: z.string() }), run: ({ text }) => ({ text }) }) });
console.log(replay.divergence?.message);
await hub.close();
`;

const RESOLUTIONS = {
  node16: { module: 'node16', moduleResolution: 'node16' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
} as const;

describe('a strict TypeScript host (skipLibCheck false)', () => {
  beforeAll(() => {
    project.write('host.ts', `${readmeEmbeddingExample()}\n${EMBEDDING_EXTRAS}`);
    for (const [name, resolution] of Object.entries(RESOLUTIONS)) {
      const compilerOptions = {
        ...resolution,
        target: 'ES2022',
        lib: ['ES2023'],
        types: ['node'],
        strict: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        noEmit: true,
      };
      project.write(`tsconfig.${name}.json`, `${JSON.stringify({ compilerOptions, files: ['host.ts'] }, null, 2)}\n`);
    }
  });

  const compilers = {
    'TypeScript 5.9': () => project.path('node_modules', 'typescript'),
    'TypeScript 7': () => join(REPO, 'node_modules', 'typescript'),
  };
  for (const [compiler, home] of Object.entries(compilers)) {
    for (const resolution of Object.keys(RESOLUTIONS)) {
      it.concurrent(
        `${compiler}, ${resolution} resolution`,
        async () => {
          const version = (JSON.parse(readFileSync(join(home(), 'package.json'), 'utf8')) as { version: string }).version;
          expect(version).toMatch(compiler === 'TypeScript 5.9' ? /^5\.9\./ : /^7\./);
          const run = await runToEnd(process.execPath, [join(home(), 'bin', 'tsc'), '-p', `tsconfig.${resolution}.json`], {
            cwd: project.dir,
            env: childEnv(),
            timeoutMs: TSC_TIMEOUT_MS,
          });
          expect(`${run.stdout}${run.stderr}`).toBe('');
          expect(run.code).toBe(0);
        },
        TSC_TIMEOUT_MS + 10_000,
      );
    }
  }
});

/** Serves `handler` on a loopback port. */
async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Reads `read()` until `done` accepts its value, every 25 ms, failing after `timeoutMs` with the last value. */
async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  { what, timeoutMs }: { what: string; timeoutMs: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(value)}`);
    await delay(25);
  }
}
