import { onTestFinished } from 'vitest';
import { SimulatedClock } from 'xstate';
import type { ConnectorConfigInput } from '../../src/connector/config.ts';
import { type Connector, createConnector, type ConnectorEvent, type ConnectorOptions } from '../../src/connector/connector.ts';
import { createHub, type Hub, type HubOptions } from '../../src/hub/index.ts';
import { settle } from './execution-fixture.ts';

/** The static token loopback hubs accept and loopback connectors present. */
export const LOOPBACK_TOKEN = 'loopback-token';

/** A real hub on a free loopback port (or `port`), closed when the test ends. */
export async function startHub(options: Partial<HubOptions> = {}, port = 0): Promise<{ hub: Hub; url: string; port: number }> {
  const hub = createHub({ staticToken: LOOPBACK_TOKEN, ...options });
  const address = await hub.listen({ port, host: '127.0.0.1' });
  onTestFinished(() => hub.close());
  return { hub, ...address };
}

/**
 * A real connector (ws adapter, real sockets) whose timers run on a SimulatedClock, with every
 * event it emits recorded; stopped when the test ends. Not started.
 */
export function startConnector(
  url: string,
  config: Partial<ConnectorConfigInput> = {},
  clock = new SimulatedClock(),
  options: Omit<ConnectorOptions, 'clock'> = {},
) {
  if (clock.now() === 0) clock.set(Date.now());
  const connector = createConnector({ url, token: LOOPBACK_TOKEN, deviceId: 'dev-1', seed: 7, ...config }, { ...options, clock });
  const events: ConnectorEvent[] = [];
  connector.events$.subscribe((event) => events.push(event));
  onTestFinished(async () => {
    const stopped = connector.stop();
    clock.increment(5_000); // past the close timeout
    await stopped;
  });
  return { connector, clock, events };
}

export const connected = (connector: Connector) => connector.waitFor((s) => s.connection.state === 'connected');

/**
 * Waits for a condition that real I/O will make true: yields to the event loop between checks
 * (and runs `onTurn`, e.g. to advance a simulated clock), never sleeps. `hangGuardMs` of wall
 * time is only a guard against a test that would hang: generous, so a busy machine that makes
 * each turn slow never fails a test that would pass.
 */
export async function until(check: () => boolean | Promise<boolean>, onTurn?: () => void, hangGuardMs = 60_000): Promise<void> {
  const deadline = performance.now() + hangGuardMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    onTurn?.();
    await settle(1);
  }
  if (await check()) return;
  throw new Error(`condition not met within ${hangGuardMs} ms`);
}

/** Calls `onLine` with each complete line of a child process's output stream. */
export function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) onLine(line);
  });
}

/** A SimulatedClock as the hub's clock, so hub and connector share one simulated time. */
export function hubClockOf(clock: SimulatedClock): {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
} {
  return {
    now: () => clock.now(),
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (id) => clock.clearTimeout(id as number),
  };
}
