import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * A host that bundles cloudtether into one file, as a VS Code extension host does (esbuild,
 * platform node, CommonJS or ES module), and runs it with plain node from a directory outside
 * the repository, where neither optional package (elkjs, @statelyai/inspect) can be found. The
 * inspector must serve its page and the connection's statechart from the bundle alone
 * (docs/inspector.md, "Bundling").
 */

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** What the host marks external: the optional peers and ws's optional native add-ons. */
const EXTERNAL = ['elkjs', '@statelyai/inspect', 'bufferutil', 'utf-8-validate'];
/** Bound on one run of the host (it bounds each of its own waits well below this). */
const RUN_TIMEOUT_MS = 60_000;

/** Where the package's entry points are built (`npm run build`, run by `pretest`). */
const BUILT = ['dist/index.js', 'dist/hub/index.js', 'dist/inspector-page/page-assets.js', 'dist/inspector-page/layouts.generated.js'];

/**
 * The host, an ES module as its author writes it (no top-level await: a CommonJS bundle cannot
 * have one). Every wait is bounded; it prints one JSON line with what it saw and ends by itself
 * once everything is stopped (process.exit only on a failure).
 */
const HOST = String.raw`
import { createConnector, createStatelyInspector, InspectionStream, startInspector } from 'cloudtether';
import { createHub } from 'cloudtether/hub';
import WebSocket from 'ws';
import { createActor, createMachine } from 'xstate';

const STEP_MS = 15_000;
let step = 'start';
/** Rejects after STEP_MS, naming the step; the timer does not hold the process open. */
function within(what, promise) {
  step = what;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out: ' + what)), STEP_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens an inspector page's WebSocket; resolves with the first message passing accept. */
function watch(pageUrl, accept) {
  const url = new URL(pageUrl);
  const ws = new WebSocket('ws://' + url.host + '/ws' + url.search);
  const seen = [];
  const found = new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      seen.push(message.type);
      const hit = accept(message);
      if (hit !== undefined) resolve(hit);
    });
  });
  const closed = new Promise((resolve) => ws.on('close', resolve));
  return { found, seen, close: () => (ws.close(), closed) };
}

async function main() {
  const result = {};
  const hub = createHub({ staticToken: 'bundle-token' });
  const { url } = await within('hub listens', hub.listen({ port: 0, host: '127.0.0.1' }));
  const connector = createConnector({ url, token: 'bundle-token', deviceId: 'bundle-host' });
  const inspector = await within('inspector starts', startInspector(connector, { port: 0 }));
  connector.start();
  await within('connector connects', connector.waitFor((s) => s.connection.state === 'connected'));

  const res = await within('page is fetched', fetch(inspector.url));
  const html = await within('page is read', res.text());
  result.page = { status: res.status, bytes: html.length, title: html.includes('<title>cloudtether inspector</title>'), script: html.includes('function drawChart(') };

  // The connection's chart, precomputed: no elkjs here to compute it.
  const chartOf = (machine) => (m) => (m.type === 'snapshot' ? m.charts.find((c) => c.machine === machine) : m.type === 'chart' && m.chart.machine === machine ? m.chart : undefined);
  const page = watch(inspector.url, chartOf('connection'));
  const chart = await within('connection chart arrives', page.found);
  result.connectionChart = { nodes: chart.nodes.length, edges: chart.edges.length, connected: chart.nodes.some((n) => n.path === 'online.connected') };
  result.messages = page.seen;
  await within('page closes', page.close());

  // A machine of the host's own has no precomputed layout: the page is told to install elkjs.
  const stream = new InspectionStream({ clock: { now: Date.now } });
  const own = createActor(createMachine({ id: 'host-machine', initial: 'idle', states: { idle: { on: { go: 'busy' } }, busy: {} } }), { inspect: (e) => stream.inspect(e) });
  const hostInspector = await within('second inspector starts', startInspector({ inspection: stream, state$: connector.state$, get status() { return connector.status; }, get executions() { return connector.executions; } }, { port: 0 }));
  own.start();
  const failed = watch(hostInspector.url, (m) => (m.type === 'snapshot' ? m.chartErrors.find((e) => e.machine === 'host-machine') : m.type === 'chart.error' ? m : undefined));
  result.hostChartError = (await within('host chart error arrives', failed.found)).error;
  await within('second page closes', failed.close());
  own.stop();
  await within('second inspector closes', hostInspector.close());

  // Stately's client without its package: a typed error naming it, and no throw.
  const stately = await within('stately error', new Promise((resolve) => {
    const client = createStatelyInspector({ url: 'ws://127.0.0.1:9', onError: (error) => resolve({ code: error.code, message: error.message, status: client.status }) });
  }));
  result.stately = stately;

  await within('connector stops', connector.stop());
  await within('inspector closes', inspector.close());
  await within('hub closes', hub.close());
  console.log(JSON.stringify(result));
}

// A failed step leaves sockets open: end the process, so the test sees the step and not a timeout.
main().catch((error) => {
  console.error('failed at step "' + step + '":', error);
  process.exit(1);
});
`;

let dir: string;
const sizes: Record<string, number> = {};

beforeAll(() => {
  const missing = BUILT.filter((file) => !existsSync(join(REPO, file)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` first (npm test does, through pretest)`);
  dir = mkdtempSync(join(tmpdir(), 'cloudtether-bundle-'));
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  // The package as an installed dependency; ws and xstate for the host's own code.
  symlinkSync(REPO, join(modules, 'cloudtether'), 'dir');
  for (const name of ['ws', 'xstate']) symlinkSync(join(REPO, 'node_modules', name), join(modules, name), 'dir');
  writeFileSync(join(dir, 'host.mjs'), HOST);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (Object.keys(sizes).length > 0) console.info(`bundle sizes (bytes): ${JSON.stringify(sizes)}`);
});

/** Runs `file` with plain node in the temp directory; resolves with its exit code and output. */
function run(file: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No NODE_OPTIONS or NODE_PATH from vitest's process: nothing but the bundle and its directory.
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir };
    execFile(process.execPath, [file], { cwd: dir, env, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, signal: error?.signal ?? null, stdout, stderr });
    });
  });
}

describe('cloudtether bundled into a host (esbuild, platform node)', () => {
  it.each(['cjs', 'esm'] as const)(
    '%s: serves the inspector page and the connection statechart, without elkjs or @statelyai/inspect',
    { timeout: 120_000 },
    async (format) => {
      const outfile = join(dir, `out-${format}`, format === 'cjs' ? 'host.cjs' : 'host.mjs');
      const built = await build({
        entryPoints: [join(dir, 'host.mjs')],
        outfile,
        bundle: true,
        platform: 'node',
        format,
        external: EXTERNAL,
        // An ES module bundle of CommonJS packages (ws, pino) needs a real `require` for Node's
        // built-ins; esbuild's stand-in throws "Dynamic require of "events" is not supported".
        ...(format === 'esm' && {
          banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
        }),
        logLevel: 'silent',
        metafile: true,
      });
      expect(built.errors).toEqual([]);
      // A CommonJS bundle empties import.meta with a warning: nothing in the package may need it.
      expect(built.warnings.map((w) => `${w.location?.file}: ${w.text}`)).toEqual([]);
      // The package's code came from dist/ (through its exports), and no optional package came in.
      const inputs = Object.keys(built.metafile.inputs);
      expect(inputs).toContain('dist/inspector-page/page-assets.js');
      expect(inputs.filter((path) => path.startsWith('src/') || /(^|\/)node_modules\/(elkjs|@statelyai)\//.test(path))).toEqual([]);
      sizes[format] = statSync(outfile).size;

      const { code, signal, stdout, stderr } = await run(outfile);
      expect({ code, signal }, `host exited badly; stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
      const result = JSON.parse(stdout.trim().split('\n').pop()!);
      expect(result.page).toEqual({ status: 200, bytes: expect.any(Number), title: true, script: true });
      expect(result.connectionChart).toMatchObject({ connected: true });
      expect(result.connectionChart.nodes).toBeGreaterThan(5);
      expect(result.hostChartError).toMatch(/^elkjs is not installed \(.+\); run `npm install elkjs`$/);
      expect(result.stately).toMatchObject({ code: 'ERR_CLOUDTETHER_MISSING_PACKAGE', status: 'stopped' });
      expect(result.stately.message).toMatch(/run `npm install @statelyai\/inspect`$/);
      // Nothing warned either (a missing package is handed to onError, not emitted as a warning).
      expect(stderr).toBe('');
    },
  );
});
