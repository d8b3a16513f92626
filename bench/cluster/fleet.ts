/**
 * The cluster benchmark's devices: real connectors (ws adapter, real timers) in the bench
 * process, each connected to the node it is given, with an `echo` tool that returns at once and
 * reports one token of usage. The hub nodes are processes of their own: their CPU is theirs.
 */
import { z } from 'zod';
import { type Connector, createConnector } from '../../src/connector/connector.ts';

const STUCK_MS = 120_000;

/** One device: its id, its connector, and the node it was connected to. */
export interface FleetDevice {
  id: string;
  node: string;
  connector: Connector;
}

/** A fleet of devices, and a count of executions ended on them. */
export interface Fleet {
  devices: FleetDevice[];
  /** Executions ended on the devices so far. */
  ended(): number;
  /** Resolves once `count` executions have ended (checked on each device event); rejects after 120 s without one ending. */
  whenEnded(count: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Connects one device per entry of `nodes` (its id and device endpoint), `<prefix>-<i>`, and
 * resolves once all are connected.
 *
 * @example
 * const fleet = await startFleet([{ node: 'n1', url }], { token, tenantId: 'cluster' });
 */
export async function startFleet(
  nodes: ReadonlyArray<{ node: string; url: string }>,
  { token, tenantId, prefix = 'dev', withTool = true }: { token: string; tenantId: string; prefix?: string; withTool?: boolean },
): Promise<Fleet> {
  let ended = 0;
  const waiters = new Set<() => void>();
  const devices = nodes.map(({ node, url }, i) => {
    const id = `${prefix}-${i + 1}`;
    const connector = createConnector({
      url,
      token,
      deviceId: id,
      tenantId,
      seed: i + 1,
      backoff: { baseMs: 20, capMs: 250, restartSpreadMs: 0, dropSpreadMs: 0 },
      executions: { maxConcurrency: 32, maxQueue: 512 },
    });
    if (withTool)
      connector.handle('tool', 'echo', {
        input: z.object({ n: z.number() }),
        run({ n }, ctx) {
          ctx.reportUsage({ inputTokens: 1 });
          return { n };
        },
      });
    connector.events$.subscribe((event) => {
      if (event.type !== 'execution_ended') return;
      ended += 1;
      for (const wake of waiters) wake();
    });
    connector.start();
    return { id, node, connector };
  });
  await Promise.all(devices.map(({ connector }) => connector.waitFor((s) => s.connection.state === 'connected')));
  return {
    devices,
    ended: () => ended,
    whenEnded(count) {
      if (ended >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        // A hang guard: a cluster that stops finishing work fails the benchmark instead of hanging it.
        let guard = setTimeout(stuck, STUCK_MS);
        function stuck() {
          waiters.delete(wake);
          reject(new Error(`no execution ended for ${STUCK_MS / 1000} s: ${ended} of ${count} ended`));
        }
        function wake() {
          clearTimeout(guard);
          if (ended < count) return void (guard = setTimeout(stuck, STUCK_MS));
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
      });
    },
    async stop() {
      await Promise.all(devices.map(({ connector }) => connector.stop()));
    },
  };
}
