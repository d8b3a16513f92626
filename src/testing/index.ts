/**
 * Test helpers for hosts that embed cloudtether: an in-memory socket network to drive the far
 * end by hand, and XState's SimulatedClock to drive every timer.
 *
 * @example
 * import { createConnector } from 'cloudtether';
 * import { createMemoryNetwork, SimulatedClock } from 'cloudtether/testing';
 *
 * const net = createMemoryNetwork();
 * const clock = new SimulatedClock();
 * const connector = createConnector({ url: 'ws://hub.test/v1/connect', token: 't' }, { socket: net.adapter, clock });
 */
export { createMemoryNetwork, type MemoryNetwork, type MemoryPeer } from '../adapters/memory-socket.ts';
export { SimulatedClock } from 'xstate';
