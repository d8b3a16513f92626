import { Redis } from 'ioredis';
import type { ClusterDevice } from './cluster-devices.ts';
import { CLUSTER_TENANT, type HubCluster, type HubNode } from './cluster.ts';
import { until } from './loopback.ts';
import { type ExecutionAnswer, operatorCall } from './operator-rest.ts';
import { onValues, waitUntil } from './wait-until.ts';

/** Dispatches one `echo` execution (`inputs: { n }`) by REST to a device of the cluster's tenant on the node at `base`. */
export function dispatchEcho(base: string, deviceId: string, requestId: string, n: number) {
  return operatorCall<{ error?: string }>(base, 'POST', `/v1/devices/${deviceId}/executions?tenant_id=${CLUSTER_TENANT}`, {
    request_id: requestId,
    job_type: 'tool',
    tool_name: 'echo',
    inputs: { n },
  });
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'timed_out']);
/** A dispatch a node refused with a retryable answer (or could not answer) is tried again on the next node after this. */
const RETRY_MS = 50;
/** Hang guard of one dispatch: about a minute of refusals. */
const MAX_ATTEMPTS = 1_200;

/** Something to do once this many executions have ended on the devices (a node killed, Redis restarted). */
export interface LoadStep {
  afterEnded: number;
  run(): Promise<void>;
}

export interface ClusterLoadOptions {
  cluster: HubCluster;
  devices: readonly ClusterDevice[];
  executions: number;
  /** Executions dispatched and not yet ended on a device, at most. Default 64. */
  window?: number;
  steps?: readonly LoadStep[];
  /** Request ids are `<prefix>-<n>`. Default `c`. */
  prefix?: string;
}

/** What a load run saw: every dispatch the cluster accepted, and what became of it. */
export interface ClusterLoadReport {
  executions: number;
  /** Dispatches a node answered 202 (or 409 `duplicate_request` on a retry: accepted before). */
  accepted: number;
  /** Answers that were not an acceptance, by HTTP status (`network` when the node could not answer); each was tried again. */
  retried: Record<string, number>;
  /** Accepted executions not `completed` at the hub, or without a usage-ledger entry. */
  lost: string[];
  /** Executions with more than one terminal event, more than one ledger entry, or run more than once on the device. */
  duplicated: string[];
  /** The duplicated ones by what was doubled: terminal events at the hub, ledger entries, runs on the device. */
  doubled: { terminal: string[]; ledger: string[]; ran: string[] };
  /** Ledger entries in all, in Redis (one per execution when nothing was lost or doubled). */
  ledgerEntries: number;
}

/** Dispatches one execution on the live nodes in turn until one accepts it. */
async function dispatch(
  cluster: HubCluster,
  turn: number,
  deviceId: string,
  requestId: string,
  retried: Record<string, number>,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const live = cluster.live();
    const node = live[(turn + attempt) % Math.max(1, live.length)];
    let outcome: string;
    if (!node) outcome = 'no_node';
    else {
      try {
        const answer = await dispatchEcho(node.base, deviceId, requestId, turn);
        if (answer.status === 202 || (answer.status === 409 && answer.body.error === 'duplicate_request')) return;
        outcome = String(answer.status);
      } catch {
        outcome = 'network';
      }
    }
    retried[outcome] = (retried[outcome] ?? 0) + 1;
    if (attempt >= MAX_ATTEMPTS) throw new Error(`no node accepted ${requestId} in ${MAX_ATTEMPTS} attempts: ${JSON.stringify(retried)}`);
    // A client's backoff before the next node (the node may be dying, or Redis away).
    await new Promise<void>((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/**
 * Runs `executions` of the `echo` tool across a cluster's live nodes (each dispatched by REST on
 * the next node in turn, to the next device in turn), with `steps` along the way, then checks at
 * the hub, from a live node, that every accepted execution has exactly one terminal event and one
 * usage-ledger entry. Waits on the devices' events; the hang guards fail with what was missing.
 *
 * @example
 * const report = await runClusterLoad({ cluster, devices, executions: 2_000, steps: [{ afterEnded: 600, run: () => cluster.kill('n2') }] });
 * expect(report.lost).toEqual([]);
 */
export async function runClusterLoad(options: ClusterLoadOptions): Promise<ClusterLoadReport> {
  const { cluster, devices, executions, window = 64, prefix = 'c' } = options;
  const ended = new Map<string, number>();
  const subscriptions = devices.map((device) =>
    device.connector.events$.subscribe((event) => {
      if (event.type === 'execution_ended') ended.set(event.requestId, (ended.get(event.requestId) ?? 0) + 1);
    }),
  );
  const triggers = devices.map((device) => onValues(device.connector.events$));
  const retried: Record<string, number> = {};
  const ids: string[] = [];
  const steps = [...(options.steps ?? [])].sort((a, b) => a.afterEnded - b.afterEnded);
  const stepRuns: Array<Promise<void>> = [];
  const describe = () => `${ended.size} of ${ids.length} dispatched ended on the devices; retried ${JSON.stringify(retried)}`;
  try {
    // The steps run beside the dispatching, each once its count of ended executions is reached.
    const stepping = (async () => {
      for (const step of steps) {
        await waitUntil(() => ended.size >= step.afterEnded, triggers, {
          what: `${step.afterEnded} executions ended`,
          timeoutMs: 120_000,
          describe,
        });
        const run = step.run();
        stepRuns.push(run);
        await run;
      }
    })();
    stepping.catch(() => {});
    const inFlight: Array<Promise<void>> = [];
    for (let n = 0; n < executions; n++) {
      await waitUntil(() => ids.length - ended.size < window, triggers, { what: 'room in the window', timeoutMs: 120_000, describe });
      const requestId = `${prefix}-${n}`;
      ids.push(requestId);
      inFlight.push(dispatch(cluster, n, devices[n % devices.length]!.id, requestId, retried));
      // Dispatches go out one after another (a node's refusal retried), at most `window` unfinished.
      if (inFlight.length >= 16) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    await waitUntil(() => ids.every((id) => ended.has(id)), triggers, {
      what: 'every execution to end on its device',
      timeoutMs: 120_000,
      describe,
    });
    await stepping;
    // What the devices sent is acknowledged by the hub: nothing left in any outbox.
    await until(() => devices.every((device) => device.connector.executions.outboxDepth === 0));
  } finally {
    for (const subscription of subscriptions) subscription.unsubscribe();
    await Promise.allSettled(stepRuns);
  }
  return verify(cluster, ids, ended, retried);
}

/**
 * The usage ledger the nodes share, read from Redis (`<prefix>usage:<tenant>:entries`, the
 * entries by report id): bookings per request id. A node answers `GET /v1/usage` from its own
 * copy, read when it started, so no one node's answer is the cluster's ledger.
 */
async function ledgerInRedis(url: string, prefix = 'cloudtether:'): Promise<Map<string, number>> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const entries = await redis.hgetall(`${prefix}usage:${CLUSTER_TENANT}:entries`);
    const ledger = new Map<string, number>();
    for (const entry of Object.values(entries)) {
      const requestId = (JSON.parse(entry) as { request_id: string }).request_id;
      ledger.set(requestId, (ledger.get(requestId) ?? 0) + 1);
    }
    return ledger;
  } finally {
    redis.disconnect();
  }
}

/** Reads every execution and the ledger from the live nodes (in turn) and counts what was lost or doubled. */
async function verify(
  cluster: HubCluster,
  ids: readonly string[],
  ended: ReadonlyMap<string, number>,
  retried: Record<string, number>,
): Promise<ClusterLoadReport> {
  const live: HubNode[] = cluster.live();
  const terminal = new Map<string, number>();
  for (let from = 0; from < ids.length; from += 32) {
    await Promise.all(
      ids.slice(from, from + 32).map(async (id, i) => {
        const node = live[(from + i) % live.length]!;
        const answer = await operatorCall<ExecutionAnswer>(node.base, 'GET', `/v1/executions/${id}`);
        const events = answer.status === 200 ? answer.body.events.filter((e) => TERMINAL.has(e.event_type)).length : 0;
        // The echo tool always completes: any other end is work gone wrong.
        terminal.set(id, answer.status === 200 && answer.body.status === 'completed' ? events : 0);
      }),
    );
  }
  const ledger = await ledgerInRedis(cluster.redis.url);
  const wanted = new Set(ids);
  return {
    executions: ids.length,
    accepted: ids.length,
    retried,
    lost: ids.filter((id) => !terminal.get(id) || !ledger.get(id)),
    duplicated: ids.filter((id) => (terminal.get(id) ?? 0) > 1 || (ledger.get(id) ?? 0) > 1 || (ended.get(id) ?? 0) > 1),
    doubled: {
      terminal: ids.filter((id) => (terminal.get(id) ?? 0) > 1),
      ledger: ids.filter((id) => (ledger.get(id) ?? 0) > 1),
      ran: ids.filter((id) => (ended.get(id) ?? 0) > 1),
    },
    ledgerEntries: [...ledger].filter(([id]) => wanted.has(id)).reduce((sum, [, count]) => sum + count, 0),
  };
}
