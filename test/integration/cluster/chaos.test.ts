import { describe, expect, it } from 'vitest';
import { startBalancedCluster } from '../../support/cluster-devices.ts';
import { runClusterLoad } from '../../support/cluster-load.ts';
import { onEvents, waitUntil } from '../../support/wait-until.ts';

const EXECUTIONS = 2_000;

/*
 * Three hub nodes (CLI processes) on one redis-server, six devices spread over them by a TCP
 * balancer, 2,000 executions dispatched by REST on the nodes in turn. A third of the way in, one
 * node is killed with SIGKILL; its devices come back through the balancer on the other two and
 * carry on; later it is started again and takes new devices. Every execution must end once, with
 * one terminal event and one usage-ledger entry.
 */
describe('cluster chaos', () => {
  it(
    '2,000 executions across 3 nodes, one killed with SIGKILL and restarted: none lost, none duplicated',
    { timeout: 240_000 },
    async () => {
      const { cluster, devices } = await startBalancedCluster();
      const victim = cluster.node('n2');
      let moved: string[] = [];
      let killed = 0;
      const report = await runClusterLoad({
        cluster,
        devices,
        executions: EXECUTIONS,
        steps: [
          {
            afterEnded: EXECUTIONS / 3,
            async run() {
              moved = [...victim.devices];
              await cluster.kill(victim.id);
              killed += 1;
              // Its devices reconnect through the balancer, to the live nodes.
              await waitUntil(
                () => moved.every((id) => cluster.holders(id).some((node) => node.alive)),
                [onEvents(cluster.events, 'session')],
                {
                  what: `${moved.join(', ')} back on a live node`,
                  timeoutMs: 60_000,
                },
              );
            },
          },
          { afterEnded: (EXECUTIONS * 2) / 3, run: async () => void (await cluster.restart(victim.id)) },
        ],
      });
      console.log(
        `cluster chaos: ${report.executions} executions, ${killed} nodes killed, lost ${report.lost.length}, duplicated ${report.duplicated.length}`,
      );
      expect(killed).toBe(1);
      expect(moved).toHaveLength(2);
      expect(report.lost).toEqual([]);
      expect(report.doubled).toEqual({ terminal: [], ledger: [], ran: [] });
      expect(report.duplicated).toEqual([]);
      expect(report.ledgerEntries).toBe(EXECUTIONS);
      // The restarted node listens again and is a backend of the balancer like the others.
      expect(victim.alive).toBe(true);
    },
  );
});
