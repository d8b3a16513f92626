import type { ResolvedHubOptions } from '../core/options.ts';
import type { HubEngine } from './hub-engine.ts';
import { MemoryEngine } from './memory-engine.ts';
import { RedisEngine } from './redis/redis-engine.ts';

/**
 * The engine `HubOptions.engine` names: the memory engine (with the ledger and settings files
 * when given) or the Redis engine.
 *
 * @throws {HubError} `invalid_options` for a Redis URL that is not one.
 */
export function createEngine(options: ResolvedHubOptions): HubEngine {
  const { engine, delivery, logger } = options;
  if (engine === 'memory') {
    return new MemoryEngine({
      defaultCredit: delivery.defaultCredit,
      usageLedgerPath: options.usageLedgerPath,
      settingsPath: options.settingsPath,
    });
  }
  return new RedisEngine({
    url: engine.redis,
    keyPrefix: engine.keyPrefix,
    defaultCredit: delivery.defaultCredit,
    logger,
    nodeId: options.nodeId,
  });
}
