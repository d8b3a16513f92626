import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createConnector } from '../../src/connector/connector.ts';
import { createMemoryStore } from '../../src/connector/remote-work.ts';
import { captureLogs } from '../support/log-capture.ts';

/** A standalone connector (no URL) whose store's channel log cannot close. */
function fixture() {
  const clock = new SimulatedClock();
  const store = createMemoryStore(() => clock.now());
  store.channels!.close = () => Promise.reject(new Error('EIO: channels.log'));
  const logs = captureLogs('info');
  const connector = createConnector({ deviceId: 'dev-1', seed: 1 }, { clock, store, logger: logs.logger });
  return { connector, logs };
}

describe('connector lifecycle', () => {
  it('stops without starting as a no-op that logs nothing', async () => {
    const { connector, logs } = fixture();
    await connector.stop();
    expect(logs.parsed().map((line) => line.msg)).not.toContain('stopped');
    expect(connector.status.connection.state).toBe('initialized');
  });

  it('shares one shutdown between every stop() call, and start() after it changes nothing', async () => {
    const { connector, logs } = fixture();
    connector.start();
    connector.start();
    const first = connector.stop();
    expect(connector.stop()).toBe(first);
    await first;
    connector.start();
    const messages = logs.parsed().map((line) => line.msg);
    expect(messages.filter((msg) => msg === 'starting')).toHaveLength(1);
    expect(messages.filter((msg) => msg === 'stopped')).toHaveLength(1);
  });

  it('logs a store that cannot close, names it, and still stops and completes the feeds', async () => {
    const { connector, logs } = fixture();
    let completed = 0;
    connector.state$.subscribe({ complete: () => completed++ });
    connector.events$.subscribe({ complete: () => completed++ });
    connector.start();
    await connector.stop();
    const failure = logs.parsed().find((line) => line.msg === 'cannot close the channel messages log');
    expect(failure).toMatchObject({ level: 50, err: { message: 'EIO: channels.log' } });
    expect(logs.parsed().at(-1)?.msg).toBe('stopped');
    expect(completed).toBe(2);
  });
});
