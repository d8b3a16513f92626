import { describe, expect, it } from 'vitest';
import { startClusterDevices } from './cluster-devices.ts';
import { startCluster } from './cluster.ts';
import { onEvents, waitUntil } from './wait-until.ts';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a hub cluster of CLI processes (test/support/cluster.ts)', () => {
  it('starts nodes on one Redis, tells which holds a device, kills one with SIGKILL, restarts it on its port, and leaves no process behind', async () => {
    const cluster = await startCluster({ nodes: 2 });
    const [n1, n2] = cluster.nodes as [(typeof cluster.nodes)[0], (typeof cluster.nodes)[0]];
    expect([n1.id, n2.id]).toEqual(['n1', 'n2']);
    expect(n1.port).not.toBe(n2.port);
    expect(cluster.live()).toHaveLength(2);
    // Each named by --node-id, as it says before its URL.
    expect(n1.log).toContain('hub node n1');
    expect(n2.log).toContain('hub node n2');

    // The shared static token works on either node.
    const [a] = await startClusterDevices(n1.url, 1, { prefix: 'a' });
    const [b] = await startClusterDevices(n2.url, 1, { prefix: 'b' });
    const held = () =>
      cluster
        .holders('a-1')
        .map((n) => n.id)
        .join() === 'n1' &&
      cluster
        .holders('b-1')
        .map((n) => n.id)
        .join() === 'n2';
    await waitUntil(held, [onEvents(cluster.events, 'session')], { what: 'a-1 on n1 and b-1 on n2' });
    expect(a!.connector.status.connection.state).toBe('connected');
    expect(b!.connector.status.connection.state).toBe('connected');

    const pid = n1.pid!;
    const port = n1.port;
    await cluster.kill('n1');
    expect(n1.alive).toBe(false);
    expect(isRunning(pid)).toBe(false);
    expect(n1.devices.size).toBe(0);
    expect(cluster.live().map((n) => n.id)).toEqual(['n2']);
    expect(() => cluster.cpuMicros('n1')).toThrow(/not running/);

    await cluster.restart('n1');
    expect(n1.port).toBe(port);
    expect(n1.pid).not.toBe(pid);
    // a-1 reconnects to its URL, the same port, now the new process.
    await waitUntil(() => n1.devices.has('a-1'), [onEvents(cluster.events, 'session')], { what: 'a-1 back on n1' });
    expect(cluster.cpuMicros('n2')).toBeGreaterThan(0);
    await expect(cluster.restart('n2')).rejects.toThrow(/still running/);

    const pids = cluster.live().map((n) => n.pid!);
    await cluster.stop();
    expect(pids.filter(isRunning)).toEqual([]);
  });
});
