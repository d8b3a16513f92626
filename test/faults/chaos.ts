import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { createConnector } from '../../src/connector/connector.ts';
import { openConnectorStore } from '../../src/connector/remote-work.ts';
import type { EditOutcome } from '../../src/connector/settings.ts';
import { CONNECT_PATH, createHub } from '../../src/hub/index.ts';
import { createLogger } from '../../src/log/logger.ts';
import { type FaultKind, startFaultProxy } from '../support/fault-proxy.ts';
import { freeBytes, mountSmallDisk, type SmallDisk } from '../support/tmpfs.ts';
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
  /**
   * Times the connector's disk fills up, at seeded points of the dispatching. Default one per
   * 1,000 executions, at least one; 0 for none.
   */
  diskFulls?: number;
  /** How long each time keeps the disk full, in ms, seeded between the two. Default 2,500–4,000. */
  diskFullMs?: [number, number];
}

/** One time the connector's disk was full. */
export interface DiskFullSpell {
  /** Executions dispatched when the disk was filled. */
  atExecution: number;
  /** From the end of `fill()` to the end of `free()`: {@link toFailingMs}, then the hold. */
  fullMs: number;
  /**
   * From the end of `fill()` to the connector reporting `status.storage` `failing` (it writes only
   * when work moves: a stalled connection delays it). The hold of the full disk starts then.
   */
  toFailingMs: number;
  /** Whether the connector reported `failing` (within 30 s of `fill()`). */
  failing: boolean;
  /** From the end of `free()` to `status.storage` `ok` (`recovered`), when it was failing then. */
  recoveryMs?: number;
  /** Failing, and `ok` again before `free()`: a probe found room on the full disk. */
  recoveredWhileFull?: boolean;
  /** Executions the hub was given during the hold (from `failing` to `free()`). */
  dispatchedWhileFull: number;
  /** `nack`s of execution requests the hub logged from `fill()` to recovery. */
  refused: number;
  /**
   * The executions unfinished when the disk was freed, by their status at the hub: `queued` ones
   * are held there (refused, or never sent to a device that said it is saturated); `delivered`
   * ones were sent and not yet accepted (refused and not yet queued again, or in a stalled
   * connection); the others the device took before the disk filled.
   */
  atFree: Record<string, number>;
  /** Bytes in use on the disk just before `fill()`: what the store had written by then. */
  usedBeforeFill: number;
}

/** The disk-full phase: the connector's store on a small tmpfs, filled and freed again. */
export interface DiskFullReport {
  /** The size of the connector's disk (a tmpfs), and the bytes in use on it once the run settled. */
  diskBytes: number;
  usedAtEnd: number;
  /** Times the phase was to fill the disk. */
  scheduled: number;
  /** Times it did. */
  fills: number;
  spells: DiskFullSpell[];
  /** Time full, over every spell. */
  fullMs: number;
  /**
   * Execution requests the device refused (`nack`) and the hub queued again, over the whole run
   * (its log line `device refused a message; queued again`), and how many executions they were.
   */
  refused: number;
  refusedExecutions: number;
  /** `state` events of the connector's storage: to `failing`, and from failing back to `ok` (`recovered`). */
  failing: number;
  recovered: number;
  /** Executions unfinished at the hub when a fill began, or dispatched before its recovery. */
  spanned: number;
  /** Of those: without exactly one terminal event, completion and usage report; handler runs beyond the first. */
  lost: number;
  duplicated: number;
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
  diskFull: DiskFullReport;
  settings: {
    fromHub: number;
    fromDevice: number;
    outcomes: Partial<Record<EditOutcome['status'] | 'refused', number>>;
    converged: boolean;
    device: unknown;
    hub: unknown;
  };
  channel: {
    published: number;
    delivered: number;
    duplicates: number;
    missing: number[];
    sent: number;
    received: number;
    /** Reliable messages (`{ reliable: true }`) sent by the device, and what the hub got of them: every one, once. */
    reliable: { sent: number; received: number; duplicates: number; missing: number[] };
  };
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
 * both sides, and a task channel carries messages both ways. The connector keeps its store on a
 * small real tmpfs that, at seeded points, is filled up, held full for a few seconds and freed
 * (the disk-full phase). Then the faults stop, everything settles, and the run reports what it
 * saw. Used by the CI chaos test and `npm run soak`.
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

/** The store's disk: 16 MiB. The logs (compacted every 1,000 acknowledged records) stay below a MiB: the report shows it. */
const DISK_BYTES = 16 * 2 ** 20;

async function scenario(
  options: ChaosOptions,
  onError: (error: unknown) => void,
): Promise<Omit<ChaosReport, 'errors' | 'before' | 'after' | 'durationMs'>> {
  const { executions: total, seed, window = 48, ratePerSecond = 25, progress = () => {}, settleMs = 60_000 } = options;
  const diskFulls = options.diskFulls ?? Math.max(1, Math.round(total / 1_000));
  const [holdMin, holdMax] = options.diskFullMs ?? [2_500, 4_000];
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  // One generator each, so the sequence of faults depends on the seed alone, not on how I/O interleaves.
  const random = {
    faults: new Prng(seed),
    traffic: new Prng(seed ^ 0x5f3759df),
    downtime: new Prng(seed ^ 0x2545f491),
    disk: new Prng(seed ^ 0x68e31da4),
  };
  // Disk-full spell i fills when the dispatching reaches a seeded point in the middle of its share
  // of the executions (20–60 % into it), so work is still being dispatched while the disk is full.
  const diskPlan = Array.from({ length: diskFulls }, (_, i) => ({
    at: Math.floor(((i + random.disk.int(20, 60) / 100) * total) / diskFulls),
    holdMs: random.disk.int(holdMin, holdMax),
  }));

  // The hub's warnings, read for one line only: each `nack` of a request the device could not store.
  const nacks: Array<{ at: number; requestId: string }> = [];
  const hubLog = new Writable({
    write(chunk, _encoding, done) {
      const line = String(chunk);
      if (line.includes('queued again')) {
        const entry = JSON.parse(line) as { msg: string; type: string; request_id: string };
        if (entry.msg === 'device refused a message; queued again' && entry.type === 'execution_request')
          nacks.push({ at: performance.now(), requestId: entry.request_id });
      }
      done();
    },
  });

  const disk: SmallDisk = await mountSmallDisk(DISK_BYTES);
  // Interrupted (Ctrl-C on `npm run soak`, a cancelled test run), no finally runs: unmount first.
  const onSignal = (signal: NodeJS.Signals) => {
    try {
      execFileSync('umount', ['-l', disk.dir], { stdio: 'pipe' });
      rmSync(disk.dir, { recursive: true, force: true });
    } finally {
      process.kill(process.pid, signal);
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cleanup: Array<() => Promise<void>> = [];
  try {
    const hub = createHub({
      tokens: { lifetimeMs: 3_000, leewayMs: 1_000, deviceCredentials: [{ tenant_id: TENANT, secret: SECRET }] },
      heartbeatIntervalMs: 1_000,
      heartbeatTimeoutMs: 1_000,
      handshakeTimeoutMs: 3_000,
      logger: createLogger({ level: 'warn', destination: hubLog }),
    });
    cleanup.push(() => hub.close());
    const { port } = await hub.listen({ port: 0, host: '127.0.0.1' });
    hub.openTask(TENANT, 'soak');
    // Restarted in place: the same hub object listens again, its queues, ledger and settings kept.
    const proxy = await startFaultProxy({ target: { port }, seed, restartHub: () => hub.restart({ downMs: random.downtime.int(0, 300) }) });
    cleanup.push(() => proxy.close());

    let tokenRefreshes = 0;
    const store = await openConnectorStore(join(disk.dir, 'store'));
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
      { store, inspect: (event) => void (event.type === '@xstate.event' && event.event.type === 'token.accepted' && tokenRefreshes++) },
    );
    // Stopped first: it closes the store, so nothing is left open on the disk.
    cleanup.unshift(() => connector.stop());
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
    const storage = { failing: 0, recovered: 0, wasFailing: false };
    connector.on('state', (change) => {
      if (change.actor === 'connection' && change.state === 'connected') sessions++;
      if (change.actor !== 'storage') return;
      if (change.state === 'failing') {
        storage.failing++;
        storage.wasFailing = true;
      } else if (change.state === 'ok' && storage.wasFailing) {
        storage.recovered++;
        storage.wasFailing = false;
      }
    });
    connector.on('execution_ended', sampleOutbox);
    // The task channel: pings from the hub (recovered by offset after each rejoin), pongs from the device.
    const channel = connector.channel('task:soak');
    const pings: number[] = [];
    channel.on('ping', z.object({ n: z.number() }), ({ n }) => void pings.push(n));
    const pongs: number[] = [];
    hub.on('channel_message', (_info, message) => void (message.event === 'pong' && pongs.push(message.payload.n as number)));
    // Reliable messages from the device: each must reach the hub once, whatever the faults.
    const approvals: number[] = [];
    hub.on('channel_message', (_info, message) => void (message.event === 'approval' && approvals.push(message.payload.n as number)));
    const triggers = [
      onEvents(hub, 'message', 'session_open', 'session_close', 'channel_message'),
      onValues(connector.state$),
      onValues(connector.events$),
    ];

    connector.start();
    await connector.settings.ready;
    await connector.waitFor((s) => s.connection.state === 'connected');
    // A first join recovers nothing (there is no offset to recover from): pings start once joined.
    await waitUntil(() => channel.state === 'joined', triggers, { what: 'the task channel to be joined' });
    const faults = startFaultSchedule(proxy, random.faults);
    cleanup.unshift(() => faults.stop());

    // Settings from both sides and the channel both ways, every 50–250 ms while executions run.
    const edits: Array<Promise<EditOutcome | 'refused'>> = [];
    const settingsCount = { fromHub: 0, fromDevice: 0 };
    let published = 0;
    let sent = 0;
    let reliableSent = 0;
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
          channel.send('approval', { n: reliableSent++ }, { reliable: true });
          break;
      }
      trafficTimer = setTimeout(traffic, random.traffic.int(50, 250));
      trafficTimer.unref();
    };
    traffic();
    cleanup.unshift(async () => clearTimeout(trafficTimer));

    // The executions: at most `window` unfinished at once; the hub queues them until the device has room.
    const finished = new Set<string>();
    let dispatched = 0;
    let roomFor: (() => void) | undefined;
    const wakeDispatch = () => {
      roomFor?.();
      roomFor = undefined;
    };
    // The disk-full phase waits for the dispatching to reach each of its points.
    let reached: { at: number; resolve: () => void } | undefined;
    let diskFullNow = false;
    const dispatchedAtLeast = (at: number) =>
      dispatched >= at ? Promise.resolve() : new Promise<void>((resolve) => (reached = { at, resolve }));
    const unfinished = () => Array.from({ length: dispatched }, (_, i) => `soak-${i}`).filter((id) => !finished.has(id));

    // The disk-full phase, beside the dispatching: at each point, fill the disk, hold it full (real
    // time: the soak runs on the real clock), free it, and wait for the connector's own probe to
    // find the space. A phase that cannot go on (the store never recovers) stops the run.
    const spells: DiskFullSpell[] = [];
    const spanned = new Set<string>();
    let diskBroken: string | undefined;
    let diskStopped = false;
    const diskPhase = (async () => {
      for (const [i, { at, holdMs }] of diskPlan.entries()) {
        await dispatchedAtLeast(at);
        if (diskStopped) return;
        const nacksBefore = nacks.length;
        for (const id of unfinished()) spanned.add(id);
        const firstExecution = dispatched;
        const failingBefore = storage.failing;
        const usedBeforeFill = DISK_BYTES - freeBytes(disk.dir);
        await disk.fill();
        const filled = performance.now();
        progress(`disk full (${i + 1}/${diskPlan.length}) at ${dispatched} dispatched, ${seconds()} s`);
        // Full until the connector finds out: it writes only when work moves, and a stalled or cut
        // connection may keep work from moving for a while. Then a bounded hold of the full disk
        // (real time, not a wait for any state), while work keeps coming and is refused or held.
        let failing = true;
        await waitUntil(() => storage.failing > failingBefore, triggers, {
          what: 'the connector to report its storage failing',
          timeoutMs: 120_000,
        }).catch(() => (failing = false));
        const toFailingMs = performance.now() - filled;
        const dispatchedAtFailing = dispatched;
        diskFullNow = true;
        wakeDispatch();
        await new Promise<void>((resolve) => setTimeout(resolve, holdMs));
        const atFree: Record<string, number> = {};
        for (const id of unfinished()) {
          const status = hub.execution(id)?.status ?? 'unknown';
          atFree[status] = (atFree[status] ?? 0) + 1;
        }
        const failingAtFree = connector.status.storage.state === 'failing';
        const dispatchedWhileFull = dispatched - dispatchedAtFailing;
        diskFullNow = false;
        await disk.free();
        const freed = performance.now();
        const spell: DiskFullSpell = {
          atExecution: firstExecution,
          fullMs: freed - filled,
          toFailingMs,
          failing,
          dispatchedWhileFull,
          refused: 0,
          atFree,
          usedBeforeFill,
        };
        spells.push(spell);
        if (diskStopped) return;
        try {
          await waitUntil(() => connector.status.storage.state === 'ok', triggers, {
            what: 'the connector to report its storage ok again after free()',
            timeoutMs: 120_000,
            describe: () => JSON.stringify(connector.status.storage),
          });
        } catch (error) {
          diskBroken = (error as Error).message;
          wakeDispatch();
          return;
        }
        // Recovered after free(), or (failing: false) never failed, or recovered while still full.
        if (failingAtFree) spell.recoveryMs = performance.now() - freed;
        else if (failing) spell.recoveredWhileFull = true;
        for (let n = firstExecution; n < dispatched; n++) spanned.add(`soak-${n}`);
        spell.refused = nacks.length - nacksBefore;
        progress(
          `disk freed at ${seconds()} s after ${spell.fullMs.toFixed(0)} ms full; storage ok ${spell.recoveryMs?.toFixed(0) ?? '-'} ms later; ${spell.refused} refused, unfinished at free() ${JSON.stringify(atFree)}`,
        );
      }
    })().catch((error: unknown) => {
      diskBroken = `the disk-full phase failed: ${error instanceof Error ? error.message : String(error)}`;
      wakeDispatch();
    });
    // On a failure, before the connector stops: the phase ends (after its hold, if in one).
    cleanup.unshift(async () => {
      diskStopped = true;
      reached?.resolve();
      await diskPhase;
    });
    const broken = () => {
      if (diskBroken) throw new Error(diskBroken);
    };

    const dispatchStart = performance.now();
    while (dispatched < total) {
      // While the disk is full, up to `window` more: the executions stuck on the disk fill the window,
      // and work must keep coming for the device to refuse and the hub to hold.
      if (dispatched - finished.size >= window + (diskFullNow ? window : 0)) {
        await new Promise<void>((resolve) => (roomFor = resolve));
        broken();
        continue;
      }
      // Pacing the load (not waiting for any machine): ahead of the rate, hold the next dispatch.
      const due = dispatchStart + (dispatched * 1000) / ratePerSecond - performance.now();
      if (due > 0) await new Promise<void>((resolve) => setTimeout(resolve, due));
      const requestId = `soak-${dispatched}`;
      const handle = hub.execute(
        DEVICE,
        { request_id: requestId, job_type: 'tool', tool_name: 'work', inputs: { n: dispatched }, timeout_ms: 600_000 },
        { tenantId: TENANT },
      );
      dispatched++;
      if (reached && dispatched >= reached.at) {
        reached.resolve();
        reached = undefined;
      }
      void handle.result.then(() => {
        finished.add(requestId);
        sampleOutbox();
        if (finished.size % 500 === 0) progress(`${finished.size}/${total} executions, ${sessions - 1} reconnects, ${seconds()} s`);
        wakeDispatch();
      });
    }
    progress(`all ${total} dispatched at ${seconds()} s`);
    await waitUntil(() => finished.size === total || diskBroken !== undefined, triggers, {
      what: 'every execution to finish',
      timeoutMs: 600_000,
      describe: () => `${finished.size}/${total}`,
    });
    broken();
    await diskPhase;
    broken();

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
    await settle(
      'a usage report per execution',
      () => hub.usage(TENANT).reports.length >= total,
      () => `${hub.usage(TENANT).reports.length}/${total}`,
    );
    await settle(
      'the settings to converge',
      () => {
        const docs = connector.settings.documents;
        const hub = hubVersions();
        return (
          docs.pendingEdits === 0 &&
          docs.orgVersion === hub.org &&
          docs.userVersion === hub.user &&
          isDeepStrictEqual(connector.settings.value, hubView())
        );
      },
      () => JSON.stringify({ device: connector.settings.documents, hub: hubVersions() }),
    );
    await settle(
      'every ping to reach the device',
      () => new Set(pings).size >= published,
      () => `${new Set(pings).size}/${published}`,
    );
    await settle(
      'every reliable channel message to reach the hub and be acknowledged',
      () => new Set(approvals).size >= reliableSent && channel.unacked === 0,
      () => `${new Set(approvals).size}/${reliableSent}, ${channel.unacked} unacknowledged`,
    );
    await settle(
      "the connector's storage to be ok",
      () => connector.status.storage.state === 'ok',
      () => JSON.stringify(connector.status.storage),
    );
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
    const lostSet = new Set(lost);
    const pingSet = new Set(pings);
    const approvalSet = new Set(approvals);
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
      diskFull: {
        diskBytes: DISK_BYTES,
        usedAtEnd: DISK_BYTES - freeBytes(disk.dir),
        scheduled: diskPlan.length,
        fills: spells.length,
        spells,
        fullMs: spells.reduce((sum, spell) => sum + spell.fullMs, 0),
        refused: nacks.length,
        refusedExecutions: new Set(nacks.map((nack) => nack.requestId)).size,
        failing: storage.failing,
        recovered: storage.recovered,
        spanned: spanned.size,
        lost: [...spanned].filter((id) => lostSet.has(id)).length,
        duplicated: [...spanned].reduce((sum, id) => sum + Math.max(0, (runs.get(id) ?? 0) - 1), 0),
      },
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
        reliable: {
          sent: reliableSent,
          received: approvals.length,
          duplicates: approvals.length - approvalSet.size,
          missing: Array.from({ length: reliableSent }, (_, n) => n).filter((n) => !approvalSet.has(n)),
        },
      },
    };
    return { ...report, unsettled };
  } finally {
    // In every path, failures too: everything stopped, then the disk freed and unmounted.
    for (const close of cleanup) await close().catch(onError);
    await disk.free();
    await disk.unmount();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Everything a chaos report shows to be wrong; empty when the run was clean. */
export function problemsOf(report: ChaosReport, { heapGrowthBytes }: { heapGrowthBytes: number }): string[] {
  const problems: string[] = [];
  const r = report;
  if (r.lost.length > 0) problems.push(`${r.lost.length} executions lost: ${r.lost.slice(0, 10).join(', ')}`);
  if (r.duplicates > 0) problems.push(`${r.duplicates} handler runs twice or more`);
  if (r.ledgerReports !== r.executions) problems.push(`${r.ledgerReports} usage reports for ${r.executions} executions`);
  if (!r.settings.converged || !isDeepStrictEqual(r.settings.device, r.settings.hub))
    problems.push(`settings diverged: device ${JSON.stringify(r.settings.device)} hub ${JSON.stringify(r.settings.hub)}`);
  if (r.channel.duplicates > 0 || r.channel.missing.length > 0)
    problems.push(`channel: ${r.channel.duplicates} pings twice, missing ${JSON.stringify(r.channel.missing)}`);
  if (r.channel.received > r.channel.sent) problems.push(`channel: the hub got ${r.channel.received} pongs of ${r.channel.sent} sent`);
  const reliable = r.channel.reliable;
  if (reliable.duplicates > 0 || reliable.missing.length > 0)
    problems.push(`channel: ${reliable.duplicates} reliable messages twice, missing ${JSON.stringify(reliable.missing.slice(0, 20))}`);
  const d = r.diskFull;
  if (d.fills < d.scheduled) problems.push(`disk-full phase: the disk filled ${d.fills} times of ${d.scheduled} scheduled`);
  d.spells.forEach((spell, i) => {
    if (!spell.failing) problems.push(`disk-full ${i + 1}: the connector never reported its storage failing while the disk was full`);
    else if (spell.recoveryMs === undefined && !spell.recoveredWhileFull)
      problems.push(`disk-full ${i + 1}: the connector never reported its storage ok again after free()`);
    if (spell.dispatchedWhileFull === 0) problems.push(`disk-full ${i + 1}: no execution was dispatched while the disk was full`);
  });
  if (d.recovered < d.failing) problems.push(`disk-full phase: storage failing ${d.failing} times, recovered ${d.recovered}`);
  if (d.lost > 0 || d.duplicated > 0)
    problems.push(
      `disk-full phase: of ${d.spanned} executions through a full disk, ${d.lost} lost, ${d.duplicated} handler runs twice or more`,
    );
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
  const count = (handles: string[]) =>
    `${handles.length} (${[...new Set(handles)].map((h) => `${h}×${handles.filter((x) => x === h).length}`).join(' ')})`;
  return [
    `chaos soak, seed ${r.seed}`,
    `  faults injected    ${Object.entries(r.faults)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ')}`,
    `  reconnects         ${r.reconnects}   token refreshes in-band ${r.tokenRefreshes}`,
    `  max outbox depth   ${r.maxOutboxDepth}`,
    `  executions         ${r.executions} (completed ${r.completed}, usage reports ${r.ledgerReports})`,
    `  lost               ${r.lost.length}`,
    `  duplicates         ${r.duplicates}`,
    ...formatDiskFull(r.diskFull),
    `  settings           ${r.settings.fromHub} hub patches, ${r.settings.fromDevice} device edits ${JSON.stringify(r.settings.outcomes)}, converged ${r.settings.converged}`,
    `  channel            pings ${r.channel.delivered}/${r.channel.published} (missing ${r.channel.missing.length}, twice ${r.channel.duplicates}), pongs ${r.channel.received}/${r.channel.sent}, reliable ${r.channel.reliable.received}/${r.channel.reliable.sent} (lost ${r.channel.reliable.missing.length}, twice ${r.channel.reliable.duplicates})`,
    `  unhandled errors   ${r.errors.length}`,
    `  heap (${r.before.gc ? 'after gc' : 'no gc'})     ${mib(r.before.heapUsed)} before, ${mib(r.after.heapUsed)} after`,
    `  handles            ${count(r.before.handles)} before, ${count(r.after.handles)} after`,
    `  duration           ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

/** The disk-full lines of {@link formatReport}. */
function formatDiskFull(d: DiskFullReport): string[] {
  const recoveries = d.spells.flatMap((spell) => (spell.recoveryMs === undefined ? [] : [spell.recoveryMs]));
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  return [
    `  disk full          ${d.fills}/${d.scheduled} times, ${(d.fullMs / 1000).toFixed(1)} s in all (${d.spells.map((s) => `at execution ${s.atExecution} for ${ms(s.fullMs)}, failing after ${ms(s.toFailingMs)}`).join('; ')})`,
    `    dispatched       ${d.spells.map((s) => s.dispatchedWhileFull).join(', ')} while full; unfinished at free() by hub status ${d.spells
      .map((s) =>
        Object.entries(s.atFree)
          .map(([status, n]) => `${status} ${n}`)
          .join(' '),
      )
      .join('; ')}`,
    `    refused (nack)   ${d.refused} execution requests queued again at the hub (${d.refusedExecutions} executions)`,
    `    storage          failing ${d.failing}, recovered ${d.recovered}; ok after free() in ${recoveries.length > 0 ? recoveries.map(ms).join(', ') : '-'}${d.spells.some((s) => s.recoveredWhileFull) ? `; ok while still full ${d.spells.filter((s) => s.recoveredWhileFull).length} times` : ''}`,
    `    through it       ${d.spanned} executions: lost ${d.lost}, duplicated ${d.duplicated}`,
    `    store's disk     ${kib(d.diskBytes)} tmpfs; in use before each fill ${d.spells.map((s) => kib(s.usedBeforeFill)).join(', ')}, at the end ${kib(d.usedAtEnd)}`,
  ];
}
