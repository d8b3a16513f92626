/**
 * Test helpers for hosts that embed cloudtether: an in-memory socket network to drive the far
 * end by hand, XState's SimulatedClock to drive every timer, and `replaySession` to check a
 * recorded session (`record` option, `--record FILE`) against the current code.
 *
 * @example
 * import { createConnector } from 'cloudtether';
 * import { createMemoryNetwork, SimulatedClock } from 'cloudtether/testing';
 *
 * const net = createMemoryNetwork();
 * const clock = new SimulatedClock();
 * const connector = createConnector({ url: 'ws://hub.test/v1/connect', token: 't' }, { socket: net.adapter, clock });
 *
 * const result = await replaySession('test/sessions/login.jsonl', { setup: registerMyHandlers });
 * expect(result.divergence?.message).toBeUndefined();
 */
export { createMemoryNetwork, type MemoryNetwork, type MemoryPeer } from '../adapters/memory-socket.ts';
export { SimulatedClock } from 'xstate';
export { replaySession, type ReplayDivergence, type ReplayOptions, type ReplayResult } from '../replay/replay.ts';
export { ReplayClock } from '../replay/replay-adapters.ts';
