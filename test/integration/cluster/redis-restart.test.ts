import { describe, expect, it } from 'vitest';
import { startBalancedCluster } from '../../support/cluster-devices.ts';
import { runClusterLoad } from '../../support/cluster-load.ts';

const EXECUTIONS = 600;

/*
 * Three hub nodes on one redis-server (AOF, appendfsync always), six devices through a TCP
 * balancer, and Redis itself restarted from its append-only file in the middle of the work. The
 * nodes ride it out: work dispatched meanwhile waits or is refused with an answer the dispatcher
 * retries, and nothing a node accepted is lost or done twice.
 */
describe('a hub cluster across a Redis restart', () => {
  it(
    '600 executions across 3 nodes, Redis restarted from its AOF a third of the way in: none lost, none duplicated',
    { timeout: 240_000 },
    async () => {
      const { cluster, devices } = await startBalancedCluster();
      let restarts = 0;
      const report = await runClusterLoad({
        cluster,
        devices,
        executions: EXECUTIONS,
        prefix: 'r',
        steps: [
          {
            afterEnded: EXECUTIONS / 3,
            async run() {
              await cluster.redis.restart();
              restarts += 1;
            },
          },
        ],
      });
      console.log(
        `cluster redis restart: ${report.executions} executions, ${restarts} Redis restarts, lost ${report.lost.length}, duplicated ${report.duplicated.length}, retried ${JSON.stringify(report.retried)}`,
      );
      expect(restarts).toBe(1);
      expect(report.lost).toEqual([]);
      expect(report.doubled).toEqual({ terminal: [], ledger: [], ran: [] });
      expect(report.duplicated).toEqual([]);
      expect(report.ledgerEntries).toBe(EXECUTIONS);
      // Every node lived through it.
      expect(cluster.live()).toHaveLength(3);
    },
  );
});
