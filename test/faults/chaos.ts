import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { createConnector } from '../../src/connector/connector.ts';
import type { EditOutcome } from '../../src/connector/settings.ts';
import { CONNECT_PATH, createHub } from '../../src/hub/index.ts';
import { type FaultKind, startFaultProxy } from '../support/fault-proxy.ts';
import { onEvents, onValues, waitUntil } from '../support/wait-until.ts';
import { Prng, startFaultSchedule } from './chaos-faults.ts';
import { type Footprint, footprint } from './footprint.ts';

const TENANT = 'chaos';
const DEVICE = 'chaos-1';
const SECRET = 'chaos-enrollment-secret';
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'timed_out']);

export interface ChaosOptions {
  /** Executions the hub dispatches. */
  executions: number;
  /** Seeds the faults, the traffic and the connector's jitter. */
  seed: number;
  /** Executions dispatched and not yet finished, at most. Default 48. */
  window?: number;
  /**
   * Executions dispatched per second at most, so that the work spreads over the faults instead of
   * finishing between two of them. Default 25 (300 executions take 12 s at least).
   */
  ratePerSecond?: number;
  /** Told of progress now and then (the soak script prints it). */
  progress?: (line: string) => void;
  /** How long everything may take to settle once the faults stop. Default 60 s. */
  settleMs?: number;
}

/** What a chaos run saw. {@link problemsOf} says what in it is wrong. */
export interface ChaosReport {
  seed: number;
  executions: number;
  completed: number;
  /** Executions without exactly one terminal event at the hub, not completed, or without exactly one usage report. */
  lost: string[];
  /** Handler runs beyond the first, over every execution. */
  duplicates: number;
  /** Usage reports in the ledger (one per execution expected). */
  ledgerReports: number;
  faults: Record<FaultKind, number>;
  /** Sessions after the first. */
  reconnects: number;
  /** In-band token refreshes the hub acknowledged. */
  tokenRefreshes: number;
  maxOutboxDepth: number;
  settings: { fromHub: number; fromDevice: number; outcomes: Partial<Record<EditOutcome['status'] | 'refused', number>>; converged: boolean; device: unknown; hub: unknown };
  channel: { published: number; delivered: number; duplicates: number; missing: number[]; sent: number; received: number };
  /** Unhandled rejections and uncaught exceptions during the run; restarts that failed. */
  errors: string[];
  /** Conditions that did not settle in time. */
  unsettled: string[];
  before: Footprint;
  after: Footprint;
  durationMs: number;
}

/**
 * Runs a real hub (device tokens of 3 s, refreshed in-band; heartbeats every second) and a real
 * connector through a {@link startFaultProxy} fault proxy, on real sockets and the real clock,
 * while a seeded schedule cuts, stalls, delays, throttles, splits and restarts the hub (in place,
 * so it keeps its state): the hub dispatches `executions` executions, settings are patched from
 * both sides, and a task channel carries messages both ways. Then the faults stop, everything
 * settles, and the run reports what it saw. Used by the CI chaos test and `npm run soak`.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const errors: string[] = [];
  const onError = (error: unknown) => void errors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  process.on('unhandledRejection', onError);
  process.on('uncaughtException', onError);
  try {
    const before = await footprint();
    const started = performance.now();
    // Measured after the scenario returned: its hub, connector and proxy are garbage by then.
    const report = await scenario(options, onError);
    const durationMs = performance.now() - started;
    const after = await footprint(before.handles.length);
    return { ...report, errors, before, after, durationMs };
  } finally {
    process.off('unhandledRejection', onError);
    process.off('uncaughtException', onError);
  }
}

async function scenario(options: ChaosOptions, onError: (error: unknown) => void): Promise<Omit<ChaosReport, 'errors' | 'before' | 'after' | 'durationMs'>> {
  const { executions: total, seed, window = 48, ratePerSecond = 25, progress = () => {}, settleMs = 60_000 } = options;
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  // One generator each, so the sequence of faults depends on the seed alone, not on how I/O interleaves.
  const random = { faults: new Prng(seed), traffic: new Prng(seed ^ 0x5f3759df), downtime: new Prng(seed ^ 0x2545f491) };
  const hub = createHub({
    tokens: { lifetimeMs: 3_000, leewayMs: 1_000, deviceCredentials: [{ tenant_id: TENANT, secret: SECRET }] },
    heartbeatIntervalMs: 1_000,
    heartbeatTimeoutMs: 1_000,
    handshakeTimeoutMs: 3_000,
  });
  const { port } = await hub.listen({ port: 0, host: '127.0.0.1' });
  hub.openTask(TENANT, 'soak');
  // Restarted in place: the same hub object listens again, its queues, ledger and settings kept.
  const proxy = await startFaultProxy({ target: { port }, seed, restartHub: () => hub.restart({ downMs: random.downtime.int(0, 300) }) });

  let tokenRefreshes = 0;
  const connector = createConnector(
    {
      url: proxy.url(CONNECT_PATH),
      credential: SECRET,
      deviceId: DEVICE,
      tenantId: TENANT,
      seed,
      // Quick to recover, so the run spends its time on work, not on waiting out backoffs.
      backoff: { baseMs: 100, capMs: 1_000, stableAfterMs: 2_000, restartSpreadMs: 300, suspendAfterMs: 600_000 },
      connectTimeoutMs: 2_000,
      closeTimeoutMs: 500,
      authPolicy: { retryBaseMs: 100, retryCapMs: 1_000 },
      executions: { maxConcurrency: 8, maxQueue: 64, defaultTimeoutMs: 600_000 },
      settings: { subscribeTimeoutMs: 2_000, retryBaseMs: 100, retryCapMs: 1_000 },
      channels: { joinTimeoutMs: 2_000, baseMs: 100, capMs: 1_000, bufferLimit: 1_000 },
    },
    { inspect: (event) => void (event.type === '@xstate.event' && event.event.type === 'token.accepted' && tokenRefreshes++) },
  );
  const runs = new Map<string, number>();
  connector.handle('tool', 'work', {
    input: z.object({ n: z.number() }),
    run: ({ n }, ctx) => {
      runs.set(ctx.requestId, (runs.get(ctx.requestId) ?? 0) + 1);
      if (n % 5 === 0) ctx.progress({ n });
      ctx.reportUsage({ inputTokens: 1, outputTokens: n % 7 });
      return { n };
    },
  });
  let maxOutboxDepth = 0;
  const sampleOutbox = () => void (maxOutboxDepth = Math.max(maxOutboxDepth, connector.executions.outboxDepth));
  let sessions = 0;
  connector.on('state', (change) => void (change.actor === 'connection' && change.state === 'connected' && sessions++));
  connector.on('execution_ended', sampleOutbox);
  // The task channel: pings from the hub (recovered by offset after each rejoin), pongs from the device.
  const channel = connector.channel('task:soak');
  const pings: number[] = [];
  channel.on('ping', z.object({ n: z.number() }), ({ n }) => void pings.push(n));
  const pongs: number[] = [];
  hub.on('channel_message', (_info, message) => void (message.event === 'pong' && pongs.push(message.payload.n as number)));
  const triggers = [onEvents(hub, 'message', 'session_open', 'session_close', 'channel_message'), onValues(connector.state$), onValues(connector.events$)];

  connector.start();
  await connector.settings.ready;
  await connector.waitFor((s) => s.connection.state === 'connected');
  // A first join recovers nothing (there is no offset to recover from): pings start once joined.
  await waitUntil(() => channel.state === 'joined', triggers, { what: 'the task channel to be joined' });
  const faults = startFaultSchedule(proxy, random.faults);

  // Settings from both sides and the channel both ways, every 50–250 ms while executions run.
  const edits: Array<Promise<EditOutcome | 'refused'>> = [];
  const settingsCount = { fromHub: 0, fromDevice: 0 };
  let published = 0;
  let sent = 0;
  let trafficTimer: NodeJS.Timeout | undefined;
  const traffic = () => {
    const k = settingsCount.fromHub + settingsCount.fromDevice + published + sent;
    switch (random.traffic.int(0, 4)) {
      case 0:
        settingsCount.fromHub++;
        void hub.settings.patchOrg(TENANT, { [`o${k % 8}`]: k }).catch(onError);
        break;
      case 1:
        settingsCount.fromHub++;
        void hub.settings.patchUser(TENANT, { deviceId: DEVICE }, { [`u${k % 4}`]: k }).catch(onError);
        break;
      case 2:
        settingsCount.fromDevice++;
        try {
          edits.push(connector.settings.update({ [`d${k % 8}`]: k }));
        } catch (error) {
          onError(error);
          edits.push(Promise.resolve('refused'));
        }
        break;
      case 3:
        hub.publish(TENANT, 'task:soak', 'ping', { n: published++ });
        break;
      case 4:
        channel.send('pong', { n: sent++ });
        break;
    }
    trafficTimer = setTimeout(traffic, random.traffic.int(50, 250));
    trafficTimer.unref();
  };
  traffic();

  // The executions: at most `window` unfinished at once; the hub queues them until the device has room.
  const finished = new Set<string>();
  let dispatched = 0;
  let roomFor: (() => void) | undefined;
  const dispatchStart = performance.now();
  while (dispatched < total) {
    if (dispatched - finished.size >= window) await new Promise<void>((resolve) => (roomFor = resolve));
    // Pacing the load (not waiting for any machine): ahead of the rate, hold the next dispatch.
    const due = dispatchStart + (dispatched * 1000) / ratePerSecond - performance.now();
    if (due > 0) await new Promise<void>((resolve) => setTimeout(resolve, due));
    const requestId = `soak-${dispatched}`;
    const handle = hub.execute(DEVICE, { request_id: requestId, job_type: 'tool', tool_name: 'work', inputs: { n: dispatched }, timeout_ms: 600_000 }, { tenantId: TENANT });
    dispatched++;
    void handle.result.then(() => {
      finished.add(requestId);
      sampleOutbox();
      if (finished.size % 500 === 0) progress(`${finished.size}/${total} executions, ${sessions - 1} reconnects, ${seconds()} s`);
      roomFor?.();
      roomFor = undefined;
    });
  }
  progress(`all ${total} dispatched at ${seconds()} s`);
  await waitUntil(() => finished.size === total, triggers, { what: 'every execution to finish', timeoutMs: 600_000, describe: () => `${finished.size}/${total}` });

  // Faults off; then everything must settle: acks, the ledger, settings, the channel.
  progress(`all finished at ${seconds()} s; faults stop, waiting for everything to settle`);
  await faults.stop();
  clearTimeout(trafficTimer);
  for (const error of faults.errors) onError(error);
  const unsettled: string[] = [];
  const settle = async (what: string, check: () => boolean, describe?: () => string) => {
    try {
      await waitUntil(check, triggers, { what, timeoutMs: settleMs, ...(describe && { describe }) });
    } catch (error) {
      unsettled.push((error as Error).message);
    }
  };
  // The device's effective settings are the user document under the organization's (no defaults, no schema).
  const hubView = () => ({ ...hub.settings.user(TENANT, { deviceId: DEVICE }).settings, ...hub.settings.org(TENANT).settings });
  const hubVersions = () => ({ org: hub.settings.org(TENANT).version, user: hub.settings.user(TENANT, { deviceId: DEVICE }).version });
  await settle(
    'the device to be connected with an empty outbox',
    () => connector.status.connection.state === 'connected' && connector.executions.outboxDepth === 0,
    () => `${connector.status.connection.state}, outbox ${connector.executions.outboxDepth}`,
  );
  await settle('a usage report per execution', () => hub.usage(TENANT).reports.length >= total, () => `${hub.usage(TENANT).reports.length}/${total}`);
  await settle(
    'the settings to converge',
    () => {
      const docs = connector.settings.documents;
      const hub = hubVersions();
      return docs.pendingEdits === 0 && docs.orgVersion === hub.org && docs.userVersion === hub.user && isDeepStrictEqual(connector.settings.value, hubView());
    },
    () => JSON.stringify({ device: connector.settings.documents, hub: hubVersions() }),
  );
  await settle('every ping to reach the device', () => new Set(pings).size >= published, () => `${new Set(pings).size}/${published}`);
  progress(`settled at ${seconds()} s`);
  const outcomes: ChaosReport['settings']['outcomes'] = {};
  for (const outcome of await Promise.all(edits)) {
    const status = outcome === 'refused' ? outcome : outcome.status;
    outcomes[status] = (outcomes[status] ?? 0) + 1;
  }

  // What the hub holds, per execution.
  const ledger = hub.usage(TENANT).reports;
  const reportsOf = new Map<string, number>();
  for (const report of ledger) reportsOf.set(report.request_id, (reportsOf.get(report.request_id) ?? 0) + 1);
  const lost: string[] = [];
  let completed = 0;
  for (let i = 0; i < total; i++) {
    const id = `soak-${i}`;
    const execution = hub.execution(id);
    const terminal = execution?.events.filter((e) => TERMINAL.has(e.event_type)).length ?? 0;
    if (execution?.status === 'completed') completed++;
    if (execution?.status !== 'completed' || terminal !== 1 || reportsOf.get(id) !== 1 || runs.get(id) === undefined) lost.push(id);
  }
  const duplicates = [...runs.values()].reduce((sum, count) => sum + count - 1, 0);
  const pingSet = new Set(pings);
  const report = {
    seed,
    executions: total,
    completed,
    lost,
    duplicates,
    ledgerReports: ledger.length,
    faults: { ...proxy.counters.faults },
    reconnects: sessions - 1,
    tokenRefreshes,
    maxOutboxDepth,
    settings: {
      ...settingsCount,
      outcomes,
      converged: !unsettled.some((u) => u.includes('settings')),
      device: connector.settings.value,
      hub: hubView(),
    },
    channel: {
      published,
      delivered: pings.length,
      duplicates: pings.length - pingSet.size,
      missing: Array.from({ length: published }, (_, n) => n).filter((n) => !pingSet.has(n)),
      sent,
      received: pongs.length,
    },
  };

  await connector.stop();
  await hub.close();
  await proxy.close();
  return { ...report, unsettled };
}

/** Everything a chaos report shows to be wrong; empty when the run was clean. */
export function problemsOf(report: ChaosReport, { heapGrowthBytes }: { heapGrowthBytes: number }): string[] {
  const problems: string[] = [];
  const r = report;
  if (r.lost.length > 0) problems.push(`${r.lost.length} executions lost: ${r.lost.slice(0, 10).join(', ')}`);
  if (r.duplicates > 0) problems.push(`${r.duplicates} handler runs twice or more`);
  if (r.ledgerReports !== r.executions) problems.push(`${r.ledgerReports} usage reports for ${r.executions} executions`);
  if (!r.settings.converged || !isDeepStrictEqual(r.settings.device, r.settings.hub)) problems.push(`settings diverged: device ${JSON.stringify(r.settings.device)} hub ${JSON.stringify(r.settings.hub)}`);
  if (r.channel.duplicates > 0 || r.channel.missing.length > 0) problems.push(`channel: ${r.channel.duplicates} pings twice, missing ${JSON.stringify(r.channel.missing)}`);
  if (r.channel.received > r.channel.sent) problems.push(`channel: the hub got ${r.channel.received} pongs of ${r.channel.sent} sent`);
  for (const error of r.errors) problems.push(`unhandled: ${error}`);
  for (const unsettled of r.unsettled) problems.push(unsettled);
  const heapGrowth = r.after.heapUsed - r.before.heapUsed;
  if (heapGrowth > heapGrowthBytes) problems.push(`heap grew by ${(heapGrowth / 2 ** 20).toFixed(1)} MiB`);
  const countOf = (handles: string[], type: string) => handles.filter((h) => h === type).length;
  if (r.after.handles.some((type) => countOf(r.after.handles, type) > countOf(r.before.handles, type))) {
    problems.push(`handles: ${r.before.handles.join(',')} before, ${r.after.handles.join(',')} after`);
  }
  return problems;
}

/** The figures of a run as one block of text. */
export function formatReport(r: ChaosReport): string {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const count = (handles: string[]) => `${handles.length} (${[...new Set(handles)].map((h) => `${h}×${handles.filter((x) => x === h).length}`).join(' ')})`;
  return [
    `chaos soak, seed ${r.seed}`,
    `  faults injected    ${Object.entries(r.faults).map(([kind, n]) => `${kind} ${n}`).join(', ')}`,
    `  reconnects         ${r.reconnects}   token refreshes in-band ${r.tokenRefreshes}`,
    `  max outbox depth   ${r.maxOutboxDepth}`,
    `  executions         ${r.executions} (completed ${r.completed}, usage reports ${r.ledgerReports})`,
    `  lost               ${r.lost.length}`,
    `  duplicates         ${r.duplicates}`,
    `  settings           ${r.settings.fromHub} hub patches, ${r.settings.fromDevice} device edits ${JSON.stringify(r.settings.outcomes)}, converged ${r.settings.converged}`,
    `  channel            pings ${r.channel.delivered}/${r.channel.published} (missing ${r.channel.missing.length}, twice ${r.channel.duplicates}), pongs ${r.channel.received}/${r.channel.sent}`,
    `  unhandled errors   ${r.errors.length}`,
    `  heap (${r.before.gc ? 'after gc' : 'no gc'})     ${mib(r.before.heapUsed)} before, ${mib(r.after.heapUsed)} after`,
    `  handles            ${count(r.before.handles)} before, ${count(r.after.handles)} after`,
    `  duration           ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}
