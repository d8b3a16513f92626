import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { settle } from '../support/execution-fixture.ts';
import { connected, startConnector, until } from '../support/loopback.ts';
import { startRedis } from '../support/redis-server.ts';

/**
 * A hub on Redis closed and made again on the same Redis, with a real connector that stays up
 * across it: the device resumes where it left off, its hub-issued token still verifies, the work
 * queued at the hub runs once, and the ledger, API keys and settings are all still there.
 */
describe('a hub on Redis across a restart', () => {
  it(
    'resumes the device, keeps its token, delivers what was queued once, and keeps ledger, API keys and settings',
    { timeout: 60_000 },
    async () => {
      const redis = await startRedis({ persistent: true });
      const options: HubOptions = { tokens: {}, engine: { redis: redis.url } };
      const hubs: Hub[] = [];
      const start = async (port = 0) => {
        const hub = createHub(options);
        hubs.push(hub);
        return { hub, ...(await hub.listen({ port, host: '127.0.0.1' })) };
      };
      try {
        const first = await start();
        const { token } = await first.hub.issueToken({ device_id: 'dev-1', tenant_id: 'local' });
        const apiKey = first.hub.api.createApiKey('local', { name: 'ci', permissions: ['usage:read'] });
        await first.hub.settings.patchOrg('local', { theme: 'dark' });

        // One slot and one place in its queue: two requests out at the device, the rest wait at the hub.
        const { connector, events, clock } = startConnector(first.url, { token, executions: { maxConcurrency: 1, maxQueue: 1 } });
        const gates: Array<() => void> = [];
        const ran: string[] = [];
        connector.handle('tool', 'gate', {
          input: z.object({}),
          run: (_input, ctx) =>
            new Promise<string>((resolve) => {
              ran.push(ctx.requestId);
              ctx.reportUsage({ inputTokens: 1, outputTokens: 1 });
              gates.push(() => resolve(ctx.requestId));
            }),
        });
        connector.start();
        await connected(connector);
        const ids = ['g0', 'g1', 'g2', 'g3'];
        for (const request_id of ids) first.hub.execute('dev-1', { request_id, job_type: 'tool', tool_name: 'gate' });
        await until(() => gates.length === 1);
        expect(first.hub.capacityOf({ device_id: 'dev-1', tenant_id: 'local' })).toMatchObject({ outstanding: 2 });
        await settle(); // the device's acks go out

        await first.hub.close();
        const second = await start(first.port);
        while (events.filter((e) => e.type === 'resume').length < 2) {
          // Time moves only while the device waits to retry: a hub on Redis answers `connect` after a
          // round trip (it claims the device), which time pumped meanwhile would turn into a timeout.
          if (connector.status.connection.state === 'disconnected') clock.increment(1_000);
          await settle(1);
        }
        expect(events.filter((e) => e.type === 'resume')).toEqual([
          { type: 'resume', status: 'resumed', missed: 0 },
          { type: 'resume', status: 'resumed', missed: 0 },
        ]);
        expect(second.hub.devices().map((d) => d.device_id)).toEqual(['dev-1']);
        // The queued requests were read back, not lost.
        expect(['g2', 'g3'].map((id) => second.hub.execution(id)?.status)).toEqual(['queued', 'queued']);

        for (let released = 0; released < ids.length; released++) {
          await until(() => gates.length > released);
          gates[released]!();
        }
        await until(() => ['g2', 'g3'].every((id) => second.hub.execution(id)?.status === 'completed'));
        await until(() => second.hub.usage('local').totals.reports === 4);
        await until(() => connector.executions.outboxDepth === 0);
        await settle();
        expect(ran).toEqual(ids);
        expect(second.hub.execution('g2')!.events.filter((e) => e.event_type === 'completed')).toHaveLength(1);
        expect(
          second.hub
            .usage('local')
            .reports.map((r) => r.request_id)
            .sort(),
        ).toEqual(ids);

        const base = `http://127.0.0.1:${second.port}`;
        const usage = await fetch(`${base}/v1/usage`, { headers: { authorization: `Bearer ${apiKey.secret}` } });
        expect(usage.status).toBe(200);
        expect(((await usage.json()) as { totals: { reports: number } }).totals.reports).toBe(4);
        expect(second.hub.settings.org('local')).toMatchObject({ version: 1, settings: { theme: 'dark' } });

        // Once more, with Redis itself restarted from its append-only file: nothing is booked twice.
        await second.hub.close();
        await redis.restart();
        const third = await start(second.port);
        while (events.filter((e) => e.type === 'resume').length < 3) {
          // Time moves only while the device waits to retry: a hub on Redis answers `connect` after a
          // round trip (it claims the device), which time pumped meanwhile would turn into a timeout.
          if (connector.status.connection.state === 'disconnected') clock.increment(1_000);
          await settle(1);
        }
        expect(events.filter((e) => e.type === 'resume').at(-1)).toEqual({ type: 'resume', status: 'resumed', missed: 0 });
        expect(third.hub.usage('local').totals.reports).toBe(4);
        expect(third.hub.api.apiKeys('local').map((key) => key.name)).toEqual(['ci']);
        expect(ran).toEqual(ids);
      } finally {
        await Promise.all(hubs.map((hub) => hub.close()));
      }
    },
  );
});
