import type { HubEngine } from '../../src/hub/engine/hub-engine.ts';
import { MemoryEngine } from '../../src/hub/engine/memory-engine.ts';
import { RedisEngine } from '../../src/hub/engine/redis/redis-engine.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startRedis } from './redis-server.ts';

/**
 * Two hubs' engines, as the contract suites of the state shared by hub nodes use them: for the
 * memory engine the same engine (one process is all it shares), for the Redis engine two
 * engines on one Redis, as two hub processes would be.
 */
export interface EngineNodes {
  a: HubEngine;
  b: HubEngine;
  /** A node made after `a` and `b` closed (Redis restarted from its AOF in between). */
  again(): Promise<HubEngine>;
  /** Whether the state outlives every node. */
  durable: boolean;
  /** Closes `a` and `b` (the memory engine has nothing to close). */
  close(): Promise<void>;
}

/** The setups by engine name: `memory` and `redis` (a real `redis-server`, with AOF). */
export const engineNodes: Record<string, () => Promise<EngineNodes>> = {
  memory: async () => {
    const engine = new MemoryEngine({ defaultCredit: 16 });
    await engine.open();
    return { a: engine, b: engine, again: async () => new MemoryEngine({ defaultCredit: 16 }), durable: false, close: async () => {} };
  },
  redis: async () => {
    const redis = await startRedis({ persistent: true });
    const make = async () => {
      const engine = new RedisEngine({ url: redis.url, defaultCredit: 16, logger: silentLogger() });
      await engine.open();
      return engine;
    };
    const [a, b] = await Promise.all([make(), make()]);
    const close = async () => {
      await Promise.all([a.close(), b.close()]);
    };
    return {
      a,
      b,
      again: async () => {
        await close();
        await redis.restart();
        return make();
      },
      durable: true,
      close,
    };
  },
};
