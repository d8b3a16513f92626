import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ExecutionResult } from '../../src/hub/delivery/executions.ts';
import { openConnectorStore } from '../../src/connector/remote-work.ts';
import type { ConnectorEvent } from '../../src/connector/connector-types.ts';
import { connected, startConnector, startHub, until } from '../support/loopback.ts';
import { smallDiskForTest } from '../support/small-disk-for-test.ts';

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'timed_out']);
const RESULT = 'r'.repeat(8_000);
const TOTAL = 300;

describe('a connector whose disk fills up', () => {
  it('refuses what it cannot store, reports it, resumes by itself when space returns, and every execution ends exactly once at the hub, also across a restart', async () => {
    const disk = await smallDiskForTest(4 * 1024 * 1024);
    const dir = join(disk.dir, 'store');
    const { hub, url } = await startHub();
    const started = await startFleet(dir, url);
    const { connector, clock, events } = started;
    const sessionId = connector.status.connection.sessionId;

    const results = new Map<string, Promise<ExecutionResult>>();
    const dispatch = (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        const requestId = `r-${n}`;
        results.set(requestId, hub.execute('dev-1', { request_id: requestId, job_type: 'tool', tool_name: 'blob', inputs: { n } }).result);
      }
    };
    dispatch(0, 50);
    await Promise.all([...results.values()]);

    // The disk fills up while work keeps coming.
    const beforeFull = events.length;
    await disk.fill();
    dispatch(50, TOTAL);
    await until(() => connector.status.storage.state === 'failing');
    const failing = connector.status.storage;
    expect(failing).toMatchObject({ state: 'failing', reason: 'write_failed', code: 'ENOSPC' });
    expect((failing as { path: string }).path.startsWith(dir)).toBe(true);
    // The device says it is saturated, and what it refused waits at the hub again.
    await until(() => hub.capacityOf({ device_id: 'dev-1', tenant_id: 'local' }).saturated);
    await until(() => [...results.keys()].some((id) => hub.execution(id)?.status === 'queued'));
    const refusedBack = [...results.keys()].filter((id) => hub.execution(id)?.status === 'queued').length;
    expect(refusedBack).toBeGreaterThan(0);

    // Space comes back; the probe (on the connector's clock) finds it without any reconnect.
    await disk.free();
    await until(
      () => connector.status.storage.state === 'ok',
      () => clock.increment(250),
    );
    const outcomes = await Promise.all([...results.values()]);
    expect(outcomes.filter((o) => o.status === 'completed')).toHaveLength(TOTAL);
    expect(connector.status.connection.sessionId).toBe(sessionId);
    const sinceFull = events.slice(beforeFull);
    expect(sinceFull.filter((e) => e.type === 'state' && e.actor === 'connection')).toEqual([]);
    const storageStates = sinceFull
      .filter((e): e is Extract<ConnectorEvent, { type: 'state' }> => e.type === 'state' && e.actor === 'storage')
      .map((e) => e.state);
    expect(storageStates[0]).toBe('failing');
    expect(storageStates.at(-1)).toBe('ok');

    // Every usage report reaches the ledger, each once; the outbox drains.
    await until(() => hub.usage('local').totals.reports === TOTAL);
    await until(() => connector.executions.outboxDepth === 0);

    // A restart over the same store: nothing journaled is left to fail `interrupted`.
    const stopped = connector.stop();
    clock.increment(5_000);
    await stopped;
    const again = await startFleet(dir, url);
    await until(() => hub.usage('local').totals.reports === TOTAL && again.connector.executions.outboxDepth === 0);
    for (const id of results.keys()) {
      const terminals = hub.execution(id)!.events.filter((e) => TERMINAL.has(e.event_type));
      expect(
        terminals.map((e) => e.event_type),
        id,
      ).toEqual(['completed']);
    }
    expect(hub.usage('local').totals.reports).toBe(TOTAL);
    expect(again.events.some((e) => e.type === 'execution_ended')).toBe(false);
  }, 300_000);
});

/** A connector over the file store in `dir`, connected to `hub`, with a tool that returns 8 KB. */
async function startFleet(dir: string, url: string) {
  const store = await openConnectorStore(dir);
  const fleet = startConnector(url, { executions: { maxConcurrency: 8, maxQueue: 32 } }, undefined, { store });
  fleet.connector.handle('tool', 'blob', { input: z.object({ n: z.number() }), run: ({ n }) => ({ n, blob: RESULT }) });
  fleet.connector.start();
  await connected(fleet.connector);
  return fleet;
}
