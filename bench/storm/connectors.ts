/**
 * The fleet of the storm benchmark, in its own process: real connectors (`createConnector`,
 * the ws adapter, real timers), each a distinct device presenting the hub's static token.
 * Driven by bench/support/child.ts; the hub, in the parent, sees and times every reconnect.
 */
import type { BackoffPolicyInput } from '../../src/machines/backoff.ts';
import { type Connector, createConnector } from '../../src/connector/connector.ts';
import { serveCommands } from '../support/child.ts';

export interface FleetArgs {
  url: string;
  token: string;
  /** Device ids are `storm-<first>` … `storm-<first + count - 1>`. */
  first: number;
  count: number;
  backoff: BackoffPolicyInput;
}

let fleet: Connector[] = [];

serveCommands({
  /** Creates and starts the connectors; the parent waits for them at the hub. */
  start(args: FleetArgs): number {
    for (let i = args.first; i < args.first + args.count; i++) {
      const connector = createConnector({
        url: args.url,
        token: args.token,
        deviceId: `storm-${i}`,
        tenantId: 'bench',
        backoff: args.backoff,
      });
      connector.start();
      fleet.push(connector);
    }
    return fleet.length;
  },

  /** How many connectors are connected now, by their own status. */
  connected(): number {
    return fleet.filter((connector) => connector.status.connection.state === 'connected').length;
  },

  /** Stops every connector (close 1000, actors stopped). */
  async stop(): Promise<number> {
    const stopping = fleet;
    fleet = [];
    await Promise.all(stopping.map((connector) => connector.stop()));
    return stopping.length;
  },
});
